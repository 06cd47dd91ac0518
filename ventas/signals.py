"""Signals of the ventas app.

`history_imported` is sent once a (non-dry-run) history import has committed, with `sender=ImportRun`,
`run` (the `ImportRun`) and `summary` (the `ImportSummary`). Receivers (recommender training) connect to it
in their app's `ready()`.
"""

from django.dispatch import Signal

history_imported = Signal()
