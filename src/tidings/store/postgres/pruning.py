"""Pruning on PostgreSQL: each batch's transaction plans by index.

PostgreSQL costs a few thousand index probes above one sequential scan of a table of a
few hundred thousand rows, so a batch's deletes (by the ids it picked) would read the
whole table each time: O(table) per batch, where pruning must cost O(batch). Within a
batch's transaction only, sequential scans, bitmap scans and hash or merge joins are
priced out (``SET LOCAL``, as the claim's connections do for their statements).
"""

from __future__ import annotations

from tidings.store.db.database import Tx
from tidings.store.db.pruning import DbPruning


class PostgresPruning(DbPruning):
    def _by_index(self, tx: Tx) -> None:
        tx.run("prune_plan_by_index")
