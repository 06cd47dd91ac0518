"""`python manage.py train_recommender [--cutoff YYYY-MM-DD] [--k 3]`

Fits the recommender on this database with a time split, compares it with the baselines on the held-out
visits, calibrates and stores the chosen model (see crm.services.recommender.training).
"""

import datetime

from django.core.management.base import BaseCommand, CommandError

from crm.services.recommender.model import LABELS
from crm.services.recommender.report import report_lines
from crm.services.recommender.training import TrainingError, train


def parse_cutoff(value: str | None) -> datetime.date | None:
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise CommandError("--cutoff debe ser una fecha AAAA-MM-DD.") from None


class Command(BaseCommand):
    help = "Entrena el recomendador con el historial de esta base (corte temporal) y guarda el modelo elegido."

    def add_arguments(self, parser):
        parser.add_argument("--cutoff", help="fecha de corte AAAA-MM-DD (por defecto: el último 20%% de días)")
        parser.add_argument("--k", type=int, default=3, help="recomendaciones por cliente (por defecto 3)")

    def handle(self, *args, cutoff, k, **options):
        if not 1 <= k <= 10:
            raise CommandError("--k debe estar entre 1 y 10.")
        try:
            report = train(cutoff=parse_cutoff(cutoff), k=k, store=True)
        except TrainingError as error:
            raise CommandError(error.message) from error
        for line in report_lines(report):
            self.stdout.write(line)
        self.stdout.write(
            self.style.SUCCESS(
                f"Modelo #{report.stored.pk} guardado: {LABELS[report.chosen.kind]} ({report.seconds:.1f} s)."
            )
        )
