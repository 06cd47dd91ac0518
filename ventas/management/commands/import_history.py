from ventas.importing.command import ImportCommand
from ventas.importing.services import import_history


class Command(ImportCommand):
    help = "Importa una exportación del historial de servicios (cliente,servicio,cantidad,valor,reserva,checkin,…)."
    service = staticmethod(import_history)
