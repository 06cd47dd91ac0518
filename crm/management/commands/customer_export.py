"""Export everything held about one customer as a ZIP (JSON + CSV): Ley 21.719 access and portability."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crm.models import DataRequest
from crm.services.privacy.export import write_customer_export
from crm.services.privacy.requests import record_request
from ventas.models import Cliente


class Command(BaseCommand):
    help = "Genera un ZIP con todos los datos de un cliente (derechos de acceso y portabilidad)."

    def add_arguments(self, parser):
        parser.add_argument("cliente_id", type=int, help="Número del cliente.")
        parser.add_argument("--out", required=True, metavar="ARCHIVO.zip", help="Dónde escribir el ZIP.")
        parser.add_argument(
            "--tipo",
            choices=[DataRequest.Kind.ACCESS, DataRequest.Kind.PORTABILITY],
            default=DataRequest.Kind.ACCESS,
            help="Tipo de solicitud que se registra (acceso por defecto).",
        )

    def handle(self, *args, cliente_id, out, tipo, **options):
        if not Cliente.objects.filter(pk=cliente_id).exists():
            raise CommandError(f"No existe el cliente {cliente_id}.")
        path = Path(out)
        try:
            with path.open("wb") as handle:
                write_customer_export(cliente_id=cliente_id, out=handle)
        except OSError as exc:
            raise CommandError(f"No se pudo escribir {path}: {exc.strerror}.") from None
        record_request(
            cliente_id=cliente_id,
            kind=tipo,
            outcome=f"Se generó el archivo ZIP con todos los datos (JSON y CSV) por comando: {path.name}.",
        )
        self.stdout.write(self.style.SUCCESS(f"Datos del cliente {cliente_id} escritos en {path}."))
