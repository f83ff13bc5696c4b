"""The server's requests that can still change, as last read; no I/O.

:class:`RequestTable` holds every *open* request of the server, by anyone (pending, approved
and not yet fulfilled, failed: what the server's duplicate check still counts as requested,
notes §8 step 6), and the last reading of every request a poller *watches* (the ones Aperture
tracks), open or not. It is small on any real server: the in-flight part of the request table.

The :class:`~aperture_overseerr.media_index.MediaIndex` fills it and keeps it up to date; the
Discovery badges read it (which seasons of a show someone already asked for) and the poller
reads its tracked requests from it instead of asking the server once per request.
"""

from __future__ import annotations

from collections.abc import Iterable

from .models import MediaRequest


class RequestTable:
    """Open and watched requests by id, open ones also by title (see the module docstring)."""

    def __init__(self) -> None:
        self._requests: dict[int, MediaRequest] = {}
        self._open: set[int] = set()
        self._by_title: dict[tuple[str, int], set[int]] = {}
        self._watched: set[int] = set()
        self._deleted: set[int] = set()

    def __len__(self) -> int:
        return len(self._open)

    # -- reading ---------------------------------------------------------------------------

    def get(self, request_id: int) -> MediaRequest | None:
        """The last reading of an open or watched request."""
        return self._requests.get(request_id)

    def is_deleted(self, request_id: int) -> bool:
        """Was this watched request found gone from the server (404)?"""
        return request_id in self._deleted

    def open_ids(self) -> set[int]:
        return set(self._open)

    def open_requests(self) -> list[MediaRequest]:
        return [self._requests[request_id] for request_id in self._open]

    def for_title(self, media_type: str, tmdb_id: int) -> tuple[MediaRequest, ...]:
        """The open requests of one title (both 4K flags), oldest first."""
        ids = self._by_title.get((media_type, tmdb_id))
        if not ids:
            return ()
        return tuple(self._requests[request_id] for request_id in sorted(ids))

    def watched(self) -> set[int]:
        return set(self._watched)

    def unknown_watched(self) -> set[int]:
        """Watched requests never read yet (nor found deleted)."""
        return {i for i in self._watched if i not in self._requests and i not in self._deleted}

    # -- writing ---------------------------------------------------------------------------

    def watch(self, request_ids: Iterable[int]) -> None:
        """Keep the last reading of these requests even when they close (replaces the set)."""
        self._watched = set(request_ids)
        for request_id in list(self._requests):
            if request_id not in self._watched and request_id not in self._open:
                del self._requests[request_id]
        self._deleted &= self._watched

    def put(self, request: MediaRequest, *, is_open: bool) -> MediaRequest | None:
        """Keep a request read just now; the previous reading (None if it was not kept)."""
        previous = self._requests.get(request.id)
        self._deleted.discard(request.id)
        key = (request.media_type, request.media.tmdb_id) if request.media is not None else None
        if previous is not None and previous.media is not None:
            self._unlink(request.id, (previous.media_type, previous.media.tmdb_id))
        if is_open and key is not None:
            self._open.add(request.id)
            self._by_title.setdefault(key, set()).add(request.id)
        else:
            self._open.discard(request.id)
        if request.id in self._open or request.id in self._watched:
            self._requests[request.id] = request
        else:
            self._requests.pop(request.id, None)
        return previous

    def deleted(self, request_id: int) -> MediaRequest | None:
        """The server answered 404 for this request; what was known of it."""
        previous = self._requests.pop(request_id, None)
        self._open.discard(request_id)
        if previous is not None and previous.media is not None:
            self._unlink(request_id, (previous.media_type, previous.media.tmdb_id))
        if request_id in self._watched:
            self._deleted.add(request_id)
        return previous

    def clear_open(self) -> None:
        """Forget which requests are open (before a complete new reading of them)."""
        for request_id in self._open:
            if request_id not in self._watched:
                self._requests.pop(request_id, None)
        self._open.clear()
        self._by_title.clear()

    def _unlink(self, request_id: int, key: tuple[str, int]) -> None:
        ids = self._by_title.get(key)
        if ids is not None:
            ids.discard(request_id)
            if not ids:
                del self._by_title[key]
