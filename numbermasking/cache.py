"""Django's database cache with an atomic ``incr``, for the API throttle's counters.

Django's DatabaseCache.incr is a get and a set: two workers incrementing at
once both read 5 and both write 6, so a rate limit counted with it leaks
under concurrency. Here the row is read FOR UPDATE in a transaction, so
increments queue on the row lock (on SQLite the database's one writer lock
does the same). The settings swap this in for CACHE_URL=dbcache://….
"""

import base64
import pickle

from django.core.cache.backends.db import DatabaseCache
from django.db import connections, router, transaction


class AtomicDatabaseCache(DatabaseCache):
    def incr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        key = self.make_and_validate_key(key, version=version)
        db = router.db_for_write(self.cache_model_class)
        connection = connections[db]
        quote = connection.ops.quote_name
        table, value_column, key_column = quote(self._table), quote("value"), quote("cache_key")
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        with transaction.atomic(using=db), connection.cursor() as cursor:
            cursor.execute(f"SELECT {value_column} FROM {table} WHERE {key_column} = %s{lock}", [key])  # noqa: S608
            row = cursor.fetchone()
            if row is None:
                raise ValueError(f"Key '{key}' not found")
            value = pickle.loads(base64.b64decode(row[0])) + delta  # noqa: S301 - our own cache table
            encoded = base64.b64encode(pickle.dumps(value, self.pickle_protocol)).decode("latin1")
            cursor.execute(f"UPDATE {table} SET {value_column} = %s WHERE {key_column} = %s", [encoded, key])  # noqa: S608
        return value
