"""The jobs database: every table made once, whoever opens it first."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import inspect

from kepler.server.db import Database, metadata


def _open_together(url: str, n: int) -> list[BaseException]:
    """Open ``n`` databases on ``url`` at once; what each open raised."""
    openers = [Database(url) for _ in range(n)]
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def open_it(db: Database) -> None:
        barrier.wait()
        try:
            db.open()
        except BaseException as exc:  # the test's assertion names it
            errors.append(exc)

    threads = [threading.Thread(target=open_it, args=(db,)) for db in openers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for db in openers:
        db.close()
    return errors


def test_processes_opening_a_new_database_at_once_all_get_every_table(tmp_path: Path) -> None:
    """`kepler up` starts the bridge, the workers and the beat together: each makes the
    tables it finds missing, and one may make a table between another's check and its
    CREATE. Every opener must come through with every table."""
    for attempt in range(5):  # the race is likely in each round, not certain
        url = f"sqlite:///{tmp_path / f'race{attempt}.db'}"
        assert _open_together(url, 8) == []
        tables = set(inspect(Database(url).open()).get_table_names())
        assert set(metadata.tables) <= tables
