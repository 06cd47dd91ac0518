"""Erase (anonymise) one customer: Ley 21.719 "supresión". See crm.services.privacy.erasure."""

from django.core.management.base import BaseCommand, CommandError

from crm.services.privacy.erasure import erase_customer
from crm.services.privacy.requests import PrivacyError
from ventas.models import Cliente


class Command(BaseCommand):
    help = "Anonimiza a un cliente (derecho de supresión): datos de contacto, propuestas y reportes."

    def add_arguments(self, parser):
        parser.add_argument("cliente_id", type=int, help="Número del cliente.")
        parser.add_argument("--yes", action="store_true", help="Confirma la eliminación (no se puede deshacer).")

    def handle(self, *args, cliente_id, yes, **options):
        if not yes:
            raise CommandError("La eliminación no se puede deshacer: repite el comando con --yes para confirmar.")
        try:
            result = erase_customer(cliente_id=cliente_id)
        except Cliente.DoesNotExist:
            raise CommandError(f"No existe el cliente {cliente_id}.") from None
        except PrivacyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(result.summary()))
        if result.reports:
            self.stdout.write(
                f"Reportes de importación reescritos: {len(result.reports)} ({result.report_lines} líneas)."
            )
