"""Rolling upgrades: which applied migrations a release may run on without knowing them.

Each migration file declares ``-- compatible: yes|no``: whether the release before it
keeps working on the migrated database. The store records that beside the migration
(``tidings_migrations.compatible``, migration 0014). A store that finds migrations it
does not know (a newer release migrated the database, say mid-way through a rolling
deploy, and this older worker restarted) starts if every unknown one is recorded as
compatible, warning once, and refuses the database otherwise. In either case it applies
nothing and records nothing: the newer release owns those rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from tidings.errors import StoreError
from tidings.store.queries import migration_compatible

log = logging.getLogger("tidings.store")

Applied = dict[str, bool | None]  # applied migration -> recorded compatible (None: unknown)


class MigrationCompatibility:
    """Shared by both SQL stores: the unknown-migration rule and what to record."""

    _migrations: list[tuple[str, str]]
    _compatible: dict[str, bool]
    _warned_unknown: tuple[str, ...] = ()

    def _load_compatibility(self) -> None:
        self._compatible = {name: migration_compatible(name, sql) for name, sql in self._migrations}

    def _accept_unknown(self, applied: Mapping[str, bool | None], where: str) -> list[str]:
        """The applied migrations this release does not know, if it may run on them.

        Raises :class:`StoreError` naming them when one is not recorded as compatible
        (or the database lacks a migration this release needs, which a newer release
        that migrated it should have applied).
        """
        known = list(self._compatible)
        unknown = sorted(set(applied) - set(known))
        if not unknown:
            return []
        newer = (
            f"{where} was migrated by a newer tidings (unknown migrations: {', '.join(unknown)})"
        )
        if blocking := [name for name in unknown if not applied[name]]:
            raise StoreError(
                f"{newer}; {', '.join(blocking)} "
                f"{'is' if len(blocking) == 1 else 'are'} not backward compatible with this "
                "release; upgrade tidings to use it."
            )
        if missing := [name for name in known if name not in applied]:
            raise StoreError(
                f"{newer} but lacks migrations this tidings needs ({', '.join(missing)}); "
                "upgrade tidings to use it."
            )
        if tuple(unknown) != self._warned_unknown:
            self._warned_unknown = tuple(unknown)
            log.warning(
                "%s; they are recorded as backward compatible, so this older release carries "
                "on. Finish the deploy: run the newer tidings here too.",
                newer,
            )
        return unknown

    def _compatibility_marks(
        self, applied: Mapping[str, bool | None], done: Sequence[str]
    ) -> list[dict[str, object]]:
        """Rows to record: migrations just applied, and known ones recorded without it."""
        return [
            {"name": name, "compatible": compatible}
            for name, compatible in self._compatible.items()
            if name in done or (name in applied and applied[name] is None)
        ]
