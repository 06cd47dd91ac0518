"""Synthetic exports: the defect generator for benchmarks, or the demo history shaped like the real files.

- `make_history_export --rows N --out FILE [--bad F] [--customers N] [--seed N] [--encoding E]`: N invented lines
  with a known share of lines the importer must reject (see `write_history_export`).
- `make_history_export --from-demo --out FILE [--clients-out FILE] [--truth-out FILE] [--scale F]
  [--profile default|popular] [--seed N]`: the demo history (`load_demo_data`'s customers) as the legacy system
  exports it, with shared contacts, `#N/A` and no catalogue, plus the matching client export (see
  `write_demo_exports`).
"""

import datetime
import math

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ventas import demo_data
from ventas.formatting import format_number
from ventas.importing.synthetic import write_demo_exports, write_history_export

MAX_DEMO_SCALE = 10  # the demo export sorts every line in memory


class Command(BaseCommand):
    help = (
        "Escribe una exportación sintética del historial: con --rows, personas inventadas con los defectos del "
        "archivo real; con --from-demo, el historial de demostración con la forma de las exportaciones reales "
        "(contactos compartidos, #N/A, sin catálogo) y, con --clients-out, la exportación de clientes."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="archivo CSV del historial")
        parser.add_argument("--rows", type=int, help="filas (modo de defectos, para benchmarks)")
        parser.add_argument("--bad", type=float, default=0.1, help="Fracción de filas que deben rechazarse.")
        parser.add_argument("--customers", type=int, default=None)
        parser.add_argument("--seed", type=int, default=None, help="semilla (por defecto 1; con --from-demo, 42)")
        parser.add_argument("--encoding", default="utf-8", choices=["utf-8", "utf-8-sig", "cp1252", "latin-1"])
        parser.add_argument("--from-demo", action="store_true", help="el historial de los datos de demostración")
        parser.add_argument("--scale", type=float, default=1.0, help="con --from-demo: escala (1 = 3.053 clientes)")
        parser.add_argument(
            "--profile", default=demo_data.DEFAULT_PROFILE, choices=list(demo_data.PROFILES), help="con --from-demo"
        )
        parser.add_argument("--clients-out", default=None, help="con --from-demo: exportación de clientes")
        parser.add_argument(
            "--truth-out", default=None, help="con --from-demo: CSV línea,persona (a quién pertenece cada línea)"
        )
        parser.add_argument("--today", default=None, help="con --from-demo: fecha final del historial (YYYY-MM-DD)")

    def handle(self, *args, **options):
        if options["from_demo"]:
            self._from_demo(options)
            return
        if options["rows"] is None:
            raise CommandError("Indica --rows N, o --from-demo para exportar el historial de demostración.")
        stats = write_history_export(
            options["out"],
            rows=options["rows"],
            bad_fraction=options["bad"],
            seed=1 if options["seed"] is None else options["seed"],
            customers=options["customers"],
            encoding=options["encoding"],
        )
        self.stdout.write(
            f"{options['out']}: {format_number(stats.rows)} filas, {format_number(stats.bad)} que deben rechazarse, "
            f"{format_number(stats.placeholder)} válidas con la fecha provisoria."
        )

    def _from_demo(self, options) -> None:
        scale = options["scale"]
        if options["rows"] is not None:
            raise CommandError("--rows no se usa con --from-demo: el tamaño lo da --scale.")
        if not (math.isfinite(scale) and 0 < scale <= MAX_DEMO_SCALE):
            raise CommandError(f"--scale debe ser un número mayor que 0 y como máximo {MAX_DEMO_SCALE}.")
        try:
            today = datetime.date.fromisoformat(options["today"]) if options["today"] else timezone.localdate()
        except ValueError as error:
            raise CommandError("--today debe tener la forma YYYY-MM-DD.") from error
        try:
            stats = write_demo_exports(
                options["out"],
                options["clients_out"],
                scale=scale,
                seed=options["seed"],
                profile=options["profile"],
                today=today,
                truth_path=options["truth_out"],
                encoding=options["encoding"],
            )
        except ValueError as error:
            raise CommandError(f"--scale {scale:g} es demasiado pequeña: no generaría clientes.") from error
        written = options["out"] + (f" y {options['clients_out']}" if options["clients_out"] else "")
        self.stdout.write(f"Escrito: {written}.")
        for line in stats.lines():
            self.stdout.write(line)
