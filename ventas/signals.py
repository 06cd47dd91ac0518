from django.dispatch import Signal

history_imported = Signal()
