"""Test helpers shipped with ``aperture_overseerr``: a stateful fake of the Seerr server family.

``FakeSeerr`` imitates Overseerr 1.34 (``"overseerr"``), Jellyseerr 2.7.3 (``"jellyseerr"``) and
Seerr 3.1 (``"seerr"``) as ``shared/reference/seerr-api-notes.md`` describes them and as the
recordings of the real servers in ``shared/reference/recorded/`` show them (``tests/
test_recorded_replay.py`` replays every recorded folder against it): traps included (unknown
query parameters and unencoded reserved characters refused, 401 vs 403 bodies, 202 for "no
seasons", 500 for unknown TMDB ids, the ``is4k``-absent duplicate trap, CSRF, a non-numeric
``X-Api-User`` never answered, …), the frozen ``updatedAt`` of Jellyseerr 2.6–2.7 and Seerr
3.0–3.1 (``FakeSeerr("seerr", version="3.2.0")`` builds a release where it moves), whole-second
timestamps, and the real effects of approve/decline. Other releases follow what the notes tie
to a release (``fake_flavours.RELEASE_RULES``): ``FakeSeerr("overseerr", version="1.35.0")``
has status 6 = DELETED for media and seasons, COMPLETED requests and the ``deleted`` /
``completed`` filters; ``FakeSeerr("jellyseerr", version="2.5.2")`` has no DELETED and no
COMPLETED (and below 2.0 no blacklist). ``enable_special_episodes`` switches the Jellyseerr/
Seerr setting of that name (season 0 kept in requests). Standard library + httpx only, so the
CLI demo can start it::

    fake = FakeSeerr("seerr")
    fake.add_title("movie", 603, "The Matrix")
    async with httpx.AsyncClient(transport=fake.transport(), base_url="http://seerr.test") as client:
        ...
    with fake.serve() as base_url:          # real HTTP on 127.0.0.1
        ...

The Webhook notification agent (notes §11, the recorded deliveries of each product): the
settings routes (``GET``/``POST /settings/notifications/webhook``, ``…/test``; admin only) with
their ``jsonPayload`` traps (base64 stored form, an object refused with 400, the text encoded once
accepted but every notification then failing), and on each request transition one POST to the
configured URL with the ``Authorization`` header verbatim, each product's headers (``User-Agent``,
``Connection``) and the template filled as the real agent fills it: MEDIA_PENDING or
MEDIA_AUTO_APPROVED when a request is created, MEDIA_APPROVED / MEDIA_DECLINED, MEDIA_FAILED when
the push to an unreachable Radarr/Sonarr fails (after MEDIA_APPROVED or MEDIA_AUTO_APPROVED),
MEDIA_AVAILABLE per approved request when its media arrives (not for shows on Overseerr), the
``types`` bitmask respected; ``media.status`` is the status before the transition's effects
(still PENDING for an approval), as recorded. Event deliveries are fire-and-forget (a background
thread, no retry, no timeout); ``/test`` waits and answers 204 or 500. For tests::

    fake.configure_webhook("http://127.0.0.1:8765/webhooks/jellyseerr", auth_header="Bearer s3cret")
    fake.approve(request_id)                  # or any API call that makes a transition
    deliveries = fake.wait_for_deliveries(5)  # WebhookDelivery: url, headers, body, status, ...
    fake.webhook_faults.drop_next(1)          # also delay(s), duplicate_next(n), reorder_next(n)

Modules, each importing only the ones before it: ``fake_flavours`` (the per-flavour and
per-version traits, constants), ``fake_state`` (records), ``fake_webhook_template`` (the
template filled as JavaScript fills it), ``fake_webhook_sender`` (delivery, fault switches),
``fake_webhook`` (the agent: settings, payloads), ``fake_protocol`` (what the HTTP layer needs of
the server), ``fake_json`` (the entities' JSON, per context), ``fake_routes`` (HTTP surface,
validator traps, authentication), ``fake_seerr`` (the class, state rules, transports).

Approximations, by design: TMDB data is a tiny made-up catalogue (``add_title`` takes the
overview, date and poster the webhook bodies show); only the routes a request client uses exist
(others answer the validator's 404/405), so there is no *arr settings API
(``radarr``/``sonarr``/``arr_unreachable`` switches stand for them) and no issues (their webhook
types are never sent); of the webhook agent: the auto-approved request whose Radarr push fails
sends MEDIA_AUTO_APPROVED + MEDIA_FAILED everywhere (Seerr 3.1.0 once sent MEDIA_DECLINED +
MEDIA_FAILED, a race), the next delivery waits for the previous one's answer up to 0.5 s (so they
arrive in order), ``supportVariables`` fills nothing in the URL, V8's ``JSON.parse`` messages are
exact only for the recorded cases, and on Overseerr 1.34 / Jellyseerr < 2.6 a movie's arrival
notifies its approved requests only (no COMPLETED there; the recorded case); a
version other than the recorded one changes only the traits ``RELEASE_RULES`` lists (each with
its source) and whether ``updatedAt`` moves: every shape, text and effect only a recording shows
stays the recorded version's (Jellyseerr < 2.6 keeps 2.7.3's user fields and ``/blacklist``
filter, Overseerr 1.35 keeps 1.34's declined TV seasons, ...), and some release values are
inferences, said so in their rule (Overseerr 1.35's ``completed`` count, which the notes claim
but its OpenAPI file does not list; that its availability sync marks DELETED as Seerr's does;
the 2.6 boundary of ``mediaType`` on Jellyseerr); a season removed from the library
(``remove_from_library(..., seasons=)``) leaves the show PARTIALLY_AVAILABLE, an inference (the
notes describe the sync per title); ``profileName``/
``canRemove`` come from the fake's *arr switches, not real quality profiles; sessions
(``connect.sid``) never authenticate; a deleted request resets only PENDING/PROCESSING media to
UNKNOWN; changes the real server makes a moment later (a request turning COMPLETED after its
media arrives) happen at once; the in-process transports raise ``httpx.ReadTimeout`` at once for
a request the server never answers (``serve()`` holds the connection instead); the blocklist
routes list and add only.
"""

from .fake_flavours import FLAVOURS, Flavour, FlavourTraits, flavour_traits
from .fake_seerr import FakeSeerr
from .fake_state import (
    BlocklistRecord,
    MediaRecord,
    RecordedCall,
    RequestRecord,
    SeasonRecord,
    TitleRecord,
    UserRecord,
)
from .fake_webhook import MEDIA_EVENT_TYPES, NOTIFICATION_TYPES
from .fake_webhook_sender import WebhookDelivery, WebhookFaults

__all__ = [
    "FLAVOURS",
    "MEDIA_EVENT_TYPES",
    "NOTIFICATION_TYPES",
    "BlocklistRecord",
    "FakeSeerr",
    "Flavour",
    "FlavourTraits",
    "MediaRecord",
    "RecordedCall",
    "RequestRecord",
    "SeasonRecord",
    "TitleRecord",
    "UserRecord",
    "WebhookDelivery",
    "WebhookFaults",
    "flavour_traits",
]
