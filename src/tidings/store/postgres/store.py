"""The PostgreSQL store: every concept over a :class:`PostgresDatabase`, with runs
created in one statement, flow claims serialised and writes group-committed
(:class:`PostgresRuns`), and pruning planned by index (:class:`PostgresPruning`)."""

from __future__ import annotations

from tidings.store.db.store import DatabaseStore
from tidings.store.postgres.database import PostgresDatabase
from tidings.store.postgres.pruning import PostgresPruning
from tidings.store.postgres.runs import PostgresRuns


class PostgresStore(DatabaseStore):
    """Store on a PostgreSQL schema, shared by any number of processes and hosts."""

    db: PostgresDatabase
    runs_class = PostgresRuns
    pruning_class = PostgresPruning

    def __init__(self, url: str) -> None:
        super().__init__(PostgresDatabase(url))
