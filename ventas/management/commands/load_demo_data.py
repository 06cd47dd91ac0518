"""Fill an empty database with the deterministic Aremko demo data (see `ventas.demo_data`)."""

import math

from django.core.management.base import BaseCommand, CommandError

from ventas import demo_data
from ventas.formatting import format_clp, format_number

MAX_SCALE = 100
BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Carga datos de demostración realistas y deterministas: a escala 1, 3.053 clientes, 961 con historial "
        "y 26.158 servicios de los últimos cinco años. --scale 40 genera ~1 millón de filas de historial."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=demo_data.DEFAULT_SEED, help="semilla (mismo resultado)")
        parser.add_argument("--scale", type=float, default=1.0, help="factor de tamaño (1 = 3.053 clientes)")
        parser.add_argument(
            "--profile",
            default=demo_data.DEFAULT_PROFILE,
            choices=list(demo_data.PROFILES),
            help="forma del historial: default (hábitos personales) o popular (todos eligen lo más popular)",
        )
        parser.add_argument(
            "--reset", action="store_true", help="borra antes clientes, historial y catálogo existentes"
        )

    def handle(self, *args, seed, scale, profile, reset, **options):
        if not (math.isfinite(scale) and 0 < scale <= MAX_SCALE):
            raise CommandError(f"--scale debe ser un número mayor que 0 y como máximo {MAX_SCALE}.")
        try:
            size = demo_data.demo_size(scale)
        except ValueError as error:
            raise CommandError(f"--scale {scale} es demasiado pequeña: no generaría clientes.") from error

        if demo_data.database_has_customers():
            if not reset:
                raise CommandError(
                    "La base de datos ya tiene clientes o historial; no se cargan datos de demostración encima. "
                    "Use --reset para borrarlos primero (The database already has customers: use --reset)."
                )
            self.stdout.write("Borrando clientes, historial y catálogo existentes…")
            demo_data.reset_demo_data()

        self.stdout.write(
            f"Cargando {format_number(size.clients)} clientes ({format_number(size.clients_with_history)} con "
            f"historial) y {format_number(size.history_rows)} servicios (semilla {seed}, escala {scale:g}, "
            f"perfil {profile})."
        )
        self._last_step = -1
        result = demo_data.load_demo_data(seed=seed, scale=scale, profile=profile, progress=self._progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"Listo: {format_number(result.clients)} clientes, {format_number(result.clients_with_history)} con "
                f"historial, {format_number(result.history_rows)} servicios por {format_clp(result.total_paid)} "
                f"en {result.seconds:.1f} s ({format_number(result.rows_per_second)} servicios/s)."
            )
        )

    def _progress(self, done: int, total: int, rows: int) -> None:
        step = done * 20 // total  # one line every 5 %, or a bar updated in place on a terminal
        if step == self._last_step:
            return
        self._last_step = step
        filled = done * BAR_WIDTH // total
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        line = f"[{bar}] {done * 100 // total:3d} % {format_number(done)} clientes, {format_number(rows)} servicios"
        if self.stdout.isatty():
            self.stdout.write(f"\r{line}", ending="\n" if done == total else "")
            self.stdout.flush()
        else:
            self.stdout.write(line)
