from django.core.management.base import BaseCommand

from ventas.formatting import format_number
from ventas.importing.synthetic import write_history_export


class Command(BaseCommand):
    help = "Escribe una exportación sintética del historial (personas inventadas, con los defectos del archivo real)."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, required=True)
        parser.add_argument("--out", required=True)
        parser.add_argument("--bad", type=float, default=0.1, help="Fracción de filas que deben rechazarse.")
        parser.add_argument("--customers", type=int, default=None)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--encoding", default="utf-8", choices=["utf-8", "utf-8-sig", "cp1252", "latin-1"])

    def handle(self, *args, **options):
        stats = write_history_export(
            options["out"],
            rows=options["rows"],
            bad_fraction=options["bad"],
            seed=options["seed"],
            customers=options["customers"],
            encoding=options["encoding"],
        )
        self.stdout.write(
            f"{options['out']}: {format_number(stats.rows)} filas, {format_number(stats.bad)} que deben rechazarse, "
            f"{format_number(stats.placeholder)} válidas con la fecha provisoria."
        )
