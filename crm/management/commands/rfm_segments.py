"""Print the RFM segment distribution, or one CSV row per customer with history."""

import csv
import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from crm.services.rfm import rfm_by_customer
from crm.services.segments import segment_distribution, segment_distribution_on
from ventas.formatting import format_clp, format_date, format_number

CSV_FIELDS = ["cliente_id", "recency_days", "frequency", "monetary", "r", "f", "m", "segment"]


def parse_date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as error:
        raise CommandError(
            f"--as-of debe ser una fecha AAAA-MM-DD, por ejemplo 2025-10-26 (se recibió {value!r})."
        ) from error


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%".replace(".", ",")


class Command(BaseCommand):
    help = (
        "Distribución de clientes por segmento RFM (clientes, ingresos). Con --csv, una fila por cliente con "
        "historial: cliente_id,recency_days,frequency,monetary,r,f,m,segment, ordenada por cliente_id."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", dest="as_of", help="fecha de cálculo AAAA-MM-DD (por defecto, hoy en Santiago)")
        parser.add_argument("--csv", action="store_true", help="una fila CSV por cliente con historial")

    def handle(self, *args, as_of=None, csv=False, **options):
        day = parse_date(as_of) if as_of else timezone.localdate()
        if csv:
            self._write_csv(day)
        else:
            self._write_distribution(day, exact=bool(as_of))

    def _write_csv(self, day):
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        rows = (
            rfm_by_customer(day)
            .order_by("cliente_id")
            .values_list("cliente_id", "recency_days", "frequency", "monetary", "r", "f", "m", "segment")
        )
        for pk, recency_days, frequency, monetary, r, f, m, segment in rows.iterator(chunk_size=2000):
            recency = "" if recency_days is None else recency_days  # only placeholder dates: recency unknown
            writer.writerow([pk, recency, frequency, int(monetary), r, f, m, segment])

    def _write_distribution(self, day, exact):
        # A given date is recomputed from the history (exact for that day); today comes from the summaries.
        shares = segment_distribution_on(day) if exact else segment_distribution(day)
        self.stdout.write(f"Segmentos RFM al {format_date(day)}")
        self.stdout.write(f"{'Segmento':<16}{'Clave':<13}{'Clientes':>10}{'%':>8}{'Ingresos':>18}{'%':>8}")
        for share in shares:
            self.stdout.write(
                f"{share.segment.label:<16}{share.segment.key:<13}{format_number(share.customers):>10}"
                f"{_percent(share.customers_share):>8}{format_clp(share.revenue):>18}{_percent(share.revenue_share):>8}"
            )
        total_customers = sum(share.customers for share in shares)
        total_revenue = sum(share.revenue for share in shares)
        self.stdout.write(f"{'Total':<29}{format_number(total_customers):>10}{'':>8}{format_clp(total_revenue):>18}")
