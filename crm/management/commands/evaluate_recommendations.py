import time

from django.core.management.base import BaseCommand, CommandError

from crm.services.proposals.evaluation import evaluate


class Command(BaseCommand):
    help = (
        "Reproduce el historial: oculta la última visita de cada cliente con 2 o más días de visita, recomienda "
        "con el resto y cuenta un acierto si un servicio recomendado se tomó ese día. Compara el motor local "
        "con las k opciones más populares."
    )

    def add_arguments(self, parser):
        parser.add_argument("--k", type=int, default=3, help="recomendaciones por cliente (por defecto 3)")

    def handle(self, *args, k, **options):
        if not 1 <= k <= 10:
            raise CommandError("--k debe estar entre 1 y 10.")
        started = time.perf_counter()
        result = evaluate(k)
        elapsed = time.perf_counter() - started
        if not result.customers:
            self.stdout.write("No hay clientes con al menos dos días de visita: nada que evaluar.")
            return
        self.stdout.write(f"Clientes evaluados: {result.customers:,}".replace(",", "."))
        self.stdout.write(f"{'':<22}{'aciertos':>10}{f'hit-rate@{k}':>14}")
        for label, hits, rate in (
            ("Motor local", result.engine_hits, result.engine_hit_rate),
            ("Popularidad", result.baseline_hits, result.baseline_hit_rate),
        ):
            self.stdout.write(f"{label:<22}{hits:>10}{rate:>14.1%}")
        self.stdout.write(
            f"Calibración top-1: confianza media {result.mean_top_confidence:.1%}, "
            f"acierto observado {result.top1_hit_rate:.1%}"
        )
        self.stdout.write(f"Tiempo: {elapsed:.1f} s")
