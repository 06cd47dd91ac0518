"""Signals of the ventas app.

`history_imported` is sent once a (non-dry-run) history import has committed, with `sender=ImportRun`,
`run` (the `ImportRun`) and `summary` (the `ImportSummary`). Receivers (recommender training) connect to it
in their app's `ready()`.

`history_written` is sent inside the transaction that wrote history rows in bulk (imports, the demo loader),
with `cliente_ids` (the customers whose rows were added or moved) and `dates` (their service dates), or both None
when the whole history changed. Receivers (the CRM's summary tables) update in that same transaction.
"""

from django.dispatch import Signal

history_imported = Signal()
history_written = Signal()
