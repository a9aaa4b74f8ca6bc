"""kombu's SQLAlchemy transport, polling faster than its 1 s default.

The embedded broker is a SQLite file: no server to run, and jobs start within a tenth of a
second. (kombu hands SQLAlchemy transport options to ``create_engine``, so the interval
cannot be set as an option: it is a class attribute.)
"""

from __future__ import annotations

from kombu.transport.sqlalchemy import Transport


class SQLiteTransport(Transport):
    polling_interval = 0.1
