"""Sessions stored in the database exactly as Django's own backend stores them, read with SQL written once.

Every page reads its session. Django's backend builds that one-row query with the ORM on each request, which
cost a gunicorn worker as much CPU as the rest of the authentication (profiled with `bench_http` on the
dashboard). Here the statement is written once per process from the model's metadata; saving, expiry, key
rotation and flushing stay Django's (`SESSION_ENGINE = "aremko.sessions"`).
"""

from functools import cache

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def load(self) -> dict:
        """The session's data while it has not expired; otherwise {} and the key is dropped (a new session gets a
        new key), as Django's `_get_session_from_db` does."""
        using = router.db_for_read(self.model)
        connection = connections[using]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(_load_sql(self.model, using), [self.session_key, now])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return {}
        return self.decode(row[0])


@cache
def _load_sql(model, using: str) -> str:
    quote = connections[using].ops.quote_name
    names = ("session_key", "session_data", "expire_date")
    column = {name: quote(model._meta.get_field(name).column) for name in names}
    table = quote(model._meta.db_table)
    # Model metadata only; the key and the time are parameters.
    return (
        f"SELECT {column['session_data']} FROM {table} "  # noqa: S608
        f"WHERE {column['session_key']} = %s AND {column['expire_date']} > %s"
    )
