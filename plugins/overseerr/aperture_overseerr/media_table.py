"""The rows of the server's media table as last read, by ``(media_type, tmdb_id)``; no I/O.

:class:`MediaTable` is the storage of the :class:`~aperture_overseerr.media_index.MediaIndex`.
Its one rule is how a row read just now joins what is known (:meth:`MediaTable.put`):

* a *partial* row (embedded in a request list, without ``seasons``: notes §12 trap 18) keeps
  the seasons of the known row; it never replaces a full row;
* a row whose ``updatedAt`` is older than the known row's is an older read and loses; an
  equally old one wins, because on servers whose ``updatedAt`` never moves (trap 16) and for
  download progress (which never touches ``updatedAt``) equal stamps say nothing.

Memory: one dict per media type keyed by TMDB id (no key tuples, no second index by local
media id); rows share their season entries (``models.season_status``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .models import MediaRow


class MediaTable:
    """Media rows by media type and TMDB id."""

    def __init__(self) -> None:
        self._rows: dict[str, dict[int, MediaRow]] = {}
        self.max_id = 0

    def __len__(self) -> int:
        return sum(len(table) for table in self._rows.values())

    def __iter__(self) -> Iterator[MediaRow]:
        for table in self._rows.values():
            yield from table.values()

    def get(self, media_type: str, tmdb_id: int) -> MediaRow | None:
        table = self._rows.get(media_type)
        return table.get(tmdb_id) if table is not None else None

    def put(self, row: MediaRow) -> MediaRow | None:
        """Keep ``row`` (read just now) by the rules above; the row now kept if it changed, else None."""
        known = self.get(row.media_type, row.tmdb_id)
        if known is not None and known.updated_at and row.updated_at and row.updated_at < known.updated_at:
            return None
        merged = row.merged_into(known)
        if merged == known:
            return None
        self._rows.setdefault(merged.media_type, {})[merged.tmdb_id] = merged
        self.max_id = max(self.max_id, merged.id)
        return merged

    def remove(self, media_type: str, tmdb_id: int) -> MediaRow | None:
        """Forget a row the server no longer has; the forgotten row, if there was one."""
        table = self._rows.get(media_type)
        return table.pop(tmdb_id, None) if table is not None else None

    def replace_all(self, rows: Iterable[MediaRow]) -> list[MediaRow]:
        """Swap in a complete new reading of the table; the rows that are new or differ.

        Rows of the new reading that are partial (no seasons) keep the seasons known before.
        """
        fresh: dict[str, dict[int, MediaRow]] = {}
        changed: list[MediaRow] = []
        max_id = 0
        for row in rows:
            table = fresh.setdefault(row.media_type, {})
            if row.tmdb_id in table:
                continue  # read twice (pages overlap): the first reading stands
            known = self.get(row.media_type, row.tmdb_id)
            merged = row.merged_into(known)
            table[row.tmdb_id] = merged
            max_id = max(max_id, merged.id)
            if merged != known:
                changed.append(merged)
        self._rows = fresh
        self.max_id = max_id
        return changed
