"""Calls released together from threads, each with its own database connection (row locks need PostgreSQL)."""

import threading
from collections.abc import Callable

import pytest
from django.db import connection


def run_concurrently(*calls: Callable[[], object]) -> list[object]:
    """Run each call in its own thread (and database connection), all released together.

    Returns each call's result, or the exception it raised.
    """
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = calls[index]()
        except Exception as error:  # handed back to the test to assert on
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent row locks need PostgreSQL")
