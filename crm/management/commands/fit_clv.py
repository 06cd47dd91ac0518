"""Fit the lifetime-value models on this database: `python manage.py fit_clv [--calibration-end D] [--csv]`."""

import csv
import datetime

from django.core.management.base import BaseCommand, CommandError

from crm.services.retention.lifetime import FitError, fit_and_store
from ventas.formatting import format_clp, format_number

CSV_FIELDS = ["cliente_id", "p_alive", "expected_visits_90d", "expected_visits_365d", "expected_value_365d"]


def _decimal(value: float, places: int = 3) -> str:
    return f"{value:.{places}f}".replace(".", ",")


class Command(BaseCommand):
    help = (
        "Ajusta BG/NBD (visitas) y Gamma-Gamma (gasto por visita) con el historial de esta base y guarda, por "
        "cliente, la probabilidad de seguir activo, las visitas esperadas y el valor esperado a 365 días. Con "
        "--calibration-end ajusta solo hasta esa fecha y compara lo previsto con lo ocurrido después (holdout)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--calibration-end", dest="calibration_end", help="AAAA-MM-DD: fin del período de ajuste")
        parser.add_argument("--csv", action="store_true", help="una fila CSV por cliente (predicciones guardadas)")

    def handle(self, *args, calibration_end=None, csv=False, **options):
        day = None
        if calibration_end:
            try:
                day = datetime.date.fromisoformat(calibration_end)
            except ValueError as error:
                raise CommandError(
                    f"--calibration-end debe ser una fecha AAAA-MM-DD, por ejemplo 2024-06-30 (se recibió "
                    f"{calibration_end!r})."
                ) from error
        try:
            result = fit_and_store(calibration_end=day)
        except FitError as error:
            raise CommandError(str(error)) from error
        if csv:
            self._write_csv(result.predictions)
        else:
            self._print_summary(result)
        if result.holdout:
            predicted, actual = result.holdout
            self.stdout.write(f"Holdout: predicted {predicted:.1f} actual {actual}")

    def _print_summary(self, result) -> None:
        model, bg, gg = result.model, result.bgnbd, result.gamma_gamma
        out = self.stdout.write
        out(
            f"Ajuste del {model.fitted_at:%d-%m-%Y %H:%M} sobre {format_number(model.customers)} clientes "
            f"({format_number(model.repeat_customers)} con visitas repetidas), en {_decimal(model.seconds, 1)} s."
        )
        out(
            f"BG/NBD (tiempo en días): r={_decimal(bg.r)} alpha={_decimal(bg.alpha)} a={_decimal(bg.a)} "
            f"b={_decimal(bg.b)}"
        )
        if gg:
            out(f"Gamma-Gamma: p={_decimal(gg.p)} q={_decimal(gg.q)} v={format_clp(gg.v)}")
        else:
            out("Gamma-Gamma: no hay suficientes clientes con visitas repetidas pagadas para estimar el gasto.")
        if result.holdout:
            predicted, actual = result.holdout
            out(
                f"Visitas repetidas después del {model.calibration_end:%d-%m-%Y}: previstas "
                f"{format_number(round(predicted))}, reales {format_number(actual)}."
            )

    def _write_csv(self, predictions: list[dict]) -> None:
        writer = csv.writer(self.stdout)
        writer.writerow(CSV_FIELDS)
        for row in predictions:
            writer.writerow([row[name] for name in CSV_FIELDS])
