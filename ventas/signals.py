"""Signals of the ventas app.

`history_imported` is sent once a (non-dry-run) history import has committed, with `sender=ImportRun`,
`run` (the `ImportRun`) and `summary` (the `ImportSummary`). Receivers (recommender training) connect to it
in their app's `ready()`.

`history_written` is sent after history rows were written in bulk, with `cliente_ids` (the customers whose rows
were added or moved) and `dates` (their service dates; None: every month of those customers), or both None when
the whole history changed. The demo loader sends it inside the transaction that wrote the rows; an import sends
it once, in its last transaction, for all its batches. Receivers (the CRM's summary tables) update in the
transaction they are called in.
"""

from django.dispatch import Signal

history_imported = Signal()
history_written = Signal()
