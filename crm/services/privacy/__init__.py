"""Ley 21.719 (Chile's personal-data law): data-subject rights, consent ledger and access log.

One module per job:

- `requests`: the `DataRequest` every rights action records (received, due in DATA_REQUEST_DAYS, who, what).
- `access_log`: `log_access(request, cliente_id, action)`, one INSERT per view call, and the retention purge.
- `consent`: the append-only consent ledger and the current state per channel.
- `restriction`: temporary block and objection to profiling (no proposals, AI engines or campaigns).
- `erasure`: anonymise a customer everywhere, keeping history amounts.
- `export`: the ZIP (JSON + CSV) of everything held about a customer (access and portability).
- `explanation`: art. 8 bis, "why this segment and these recommendations" in plain Spanish.
"""
