from ventas.importing.command import ImportCommand
from ventas.importing.services import import_clients


class Command(ImportCommand):
    help = "Importa una exportación de clientes (Auto Increment,Record ID,Created On,Email,Telefono,…)."
    service = staticmethod(import_clients)
