"""`python manage.py evaluate_recommendations [--k 3] [--cutoff YYYY-MM-DD]`

The same time split as train_recommender, without storing anything: the engine is fitted on the visits before
the cutoff and every model is measured on each customer's first visit after it.
"""

import time

from django.core.management.base import BaseCommand, CommandError

from crm.management.commands.train_recommender import parse_cutoff
from crm.services.recommender.report import report_lines
from crm.services.recommender.training import TrainingError, train


class Command(BaseCommand):
    help = (
        "Evalúa el recomendador con un corte temporal: ajusta con las visitas anteriores al corte y mide la "
        "primera visita posterior de cada cliente (hit-rate@k, recall@k, NDCG@k, repetidos y nuevos) frente a "
        "popularidad, top personal y top personal + global. No guarda nada."
    )

    def add_arguments(self, parser):
        parser.add_argument("--k", type=int, default=3, help="recomendaciones por cliente (por defecto 3)")
        parser.add_argument("--cutoff", help="fecha de corte AAAA-MM-DD (por defecto: el último 20%% de días)")

    def handle(self, *args, k, cutoff, **options):
        if not 1 <= k <= 10:
            raise CommandError("--k debe estar entre 1 y 10.")
        started = time.perf_counter()
        try:
            report = train(cutoff=parse_cutoff(cutoff), k=k, store=False)
        except TrainingError as error:
            self.stdout.write(f"Nada que evaluar: {error.message}")
            return
        for line in report_lines(report):
            self.stdout.write(line)
        self.stdout.write(f"Tiempo: {time.perf_counter() - started:.1f} s")
