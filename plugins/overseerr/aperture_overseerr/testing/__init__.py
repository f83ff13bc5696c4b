"""Test helpers shipped with ``aperture_overseerr``: a stateful fake of the Seerr server family.

``FakeSeerr`` imitates Overseerr 1.34 (``"overseerr"``), Jellyseerr 2.7.3 (``"jellyseerr"``) and
Seerr 3.1 (``"seerr"``) as ``shared/reference/seerr-api-notes.md`` describes them, traps included
(unknown query parameters and unencoded reserved characters refused, 401 vs 403 bodies, 202 for
"no seasons", 500 for unknown TMDB ids, the ``is4k``-absent duplicate trap, CSRF, …). Standard
library + httpx only, so the CLI demo can start it::

    fake = FakeSeerr("seerr")
    fake.add_title("movie", 603, "The Matrix")
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://seerr.test") as client:
        ...
    with fake.serve() as base_url:          # real HTTP on 127.0.0.1
        ...

Modules: ``fake_seerr`` (the class, state rules, transports), ``fake_routes`` (HTTP surface and
JSON), ``fake_state`` (records), ``fake_flavours`` (the per-flavour table and constants).

Approximations, by design: TMDB data is a tiny made-up catalogue; only the routes a request
client uses exist (others answer the validator's 404/405); ``profileName``/``canRemove`` come
from the fake's *arr switches, not real quality profiles; sessions (``connect.sid``) never
authenticate; a deleted request resets only PENDING/PROCESSING media to UNKNOWN.
"""

from .fake_flavours import FLAVOURS, Flavour, FlavourTraits
from .fake_seerr import FakeSeerr
from .fake_state import MediaRecord, RecordedCall, RequestRecord, SeasonRecord, TitleRecord, UserRecord

__all__ = [
    "FLAVOURS",
    "FakeSeerr",
    "Flavour",
    "FlavourTraits",
    "MediaRecord",
    "RecordedCall",
    "RequestRecord",
    "SeasonRecord",
    "TitleRecord",
    "UserRecord",
]
