"""User mapping rules and product detection: pure functions, checked case by case."""

from __future__ import annotations

import pytest

from aperture_hookspecs import ApertureUser
from aperture_overseerr.models import SeerrUser
from aperture_overseerr.profiles import (
    JELLYSEERR_1,
    JELLYSEERR_20,
    JELLYSEERR_26,
    OVERSEERR,
    OVERSEERR_135,
    SEERR,
    Status6,
    identify,
)
from aperture_overseerr.users import match_user


def user(user_id: int, **fields: object) -> SeerrUser:
    return SeerrUser(
        id=user_id, permissions=32, display_name=str(fields.get("username") or user_id), **fields
    )


USERS = [
    user(1, username="admin", email="admin@example.invalid"),
    user(
        2, username=None, jellyfin_username="José", jellyfin_user_id="AB12-CD34", email="jose@example.invalid"
    ),
    user(3, username="mary", jellyfin_username="Mary Ann", email="mary@example.invalid"),
    user(4, username=None, plex_username="PlexOnly", email="plex@example.invalid"),
    user(5, username="ǅemal", email="dz@example.invalid"),
    user(6, username="twin", email="twin1@example.invalid"),
    user(7, username="TWIN", email="twin2@example.invalid"),
]


@pytest.mark.parametrize(
    ("aperture_user", "expected_id", "method"),
    [
        (ApertureUser("JOSÉ"), 2, "username"),
        (ApertureUser("jose\u0301"), 2, "username"),  # decomposed é, NFKC-normalised
        (ApertureUser("someone", media_server_id="ab12cd34"), 2, "media-server id"),
        (ApertureUser("Mary Ann"), 3, "username"),  # jellyfinUsername differs from username
        (ApertureUser("mary"), 3, "username"),
        (ApertureUser("plexonly"), 4, "username"),  # a Plex-only Overseerr user
        (ApertureUser("Ǆemal"), 5, "username"),
        (ApertureUser("dž" + "emal"), 5, "username"),
        (ApertureUser("nobody", email="MARY@example.invalid"), 3, "email"),
    ],
)
def test_automatic_matches(aperture_user, expected_id, method):
    match = match_user(aperture_user, USERS, {})
    assert (match.user.id if match.user else None, match.method) == (expected_id, method)


def test_two_candidates_leave_the_user_unmapped_with_their_ids():
    match = match_user(ApertureUser("Twin"), USERS, {})
    assert match.user is None
    assert "ids 6 (twin), 7 (TWIN)" in match.problem


def test_nobody_falls_back_to_the_key_owner():
    match = match_user(ApertureUser("stranger"), USERS, {})
    assert match.user is None
    assert "map the user by hand" in match.problem


@pytest.mark.parametrize("target", [3, "mary", "MARY@example.invalid"])
def test_the_manual_map_overrides_an_automatic_match(target):
    match = match_user(ApertureUser("JOSÉ"), USERS, {"JOSÉ": target})
    assert (match.user.id, match.method) == (3, "manual")


@pytest.mark.parametrize(("target", "expected_id"), [("twin", 6), ("TWIN", 7), ("twin2@example.invalid", 7)])
def test_an_exact_name_in_the_manual_map_wins_over_case_insensitive_matches(target, expected_id):
    match = match_user(ApertureUser("sam"), USERS, {"sam": target})
    assert (match.user.id if match.user else match.problem, match.method) == (expected_id, "manual")


def test_a_manual_map_spelled_like_no_user_still_refuses_two_case_insensitive_matches():
    match = match_user(ApertureUser("sam"), USERS, {"sam": "Twin"})
    assert match.user is None
    assert "ids 6 (twin), 7 (TWIN)" in match.problem


def test_a_manual_map_to_a_missing_user_says_so():
    match = match_user(ApertureUser("alice"), USERS, {"alice": 99})
    assert match.user is None
    assert "99" in match.problem


def test_a_deleted_user_stops_matching():
    remaining = [u for u in USERS if u.id != 3]
    assert match_user(ApertureUser("mary"), remaining, {}).user is None


@pytest.mark.parametrize(
    ("version", "media_server_type", "api", "profile"),
    [
        ("1.34.0", None, "Overseerr API", OVERSEERR),
        ("1.35.0", None, "Overseerr API", OVERSEERR_135),
        ("1.9.2", 2, "Jellyseerr API", JELLYSEERR_1),
        ("1.9.2", 2, None, JELLYSEERR_1),
        ("2.1.0", 2, "Jellyseerr API", JELLYSEERR_20),
        ("2.4.1", 3, "Jellyseerr API", JELLYSEERR_20),
        ("2.7.3", 2, "Jellyseerr API", JELLYSEERR_26),
        ("3.1.0", 2, "Seerr API", SEERR),
        ("develop-abc1234", None, "Overseerr API", OVERSEERR_135),
        ("develop-abc1234", 2, "Seerr API", SEERR),
    ],
)
def test_product_detection(version, media_server_type, api, profile):
    assert identify(version, media_server_type, api) is profile


def test_profiles_encode_the_traps():
    assert OVERSEERR.status6 is Status6.UNUSED and OVERSEERR_135.status6 is Status6.DELETED
    assert JELLYSEERR_20.status6 is Status6.BLOCKLISTED and not JELLYSEERR_20.status7_deleted
    assert JELLYSEERR_26.status7_deleted and SEERR.status7_deleted
    assert not OVERSEERR_135.status7_deleted
