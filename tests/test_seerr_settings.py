"""The Seerr-family settings schema: what admins paste is normalised, nonsense is refused field by
field, and the API key is never repeated in an error.

Every key in this file is an obvious fake. Property tests feed the schema arbitrary text and
arbitrary JSON-like values: the only exception allowed out of ``validate_settings`` is
``InvalidSettingsError``.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlsplit

import pytest
import voluptuous as vol
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from aperture_hookspecs import InvalidSettingsError
from aperture_hookspecs.settings import secret_fields, validate_settings
from aperture_overseerr.settings import DEFAULT_TIMEOUT, SETTINGS_SCHEMA, api_key, normalise_url

FAKE_KEY = "FAKE-KEY-abc123"
PROVIDER = "jellyseerr"
FIELDS = ("url", "api_key", "timeout", "verify_tls", "default_4k", "progress_interval", "user_map")
VALID: dict[str, Any] = {"url": "http://jellyseerr:5055", "api_key": FAKE_KEY}


def validate(**changes: Any) -> dict[str, Any]:
    """Validate the minimal valid settings with ``changes`` applied."""
    return validate_settings(SETTINGS_SCHEMA, {**VALID, **changes}, provider=PROVIDER)


def field_errors(raw: dict[str, Any]) -> dict[str, str]:
    """The field errors ``raw`` is refused with (fails the test if it is accepted)."""
    with pytest.raises(InvalidSettingsError) as caught:
        validate_settings(SETTINGS_SCHEMA, raw, provider=PROVIDER)
    assert caught.value.provider == PROVIDER
    assert caught.value.field_errors, "an InvalidSettingsError must name at least one field"
    return caught.value.field_errors


def error_for(field: str, value: Any) -> str:
    """The message for ``field`` when only it is set to ``value``; no other field may complain."""
    errors = field_errors({**VALID, field: value})
    assert set(errors) == {field}, errors
    return errors[field]


def everything_said(error: InvalidSettingsError) -> str:
    """All the text an error can show or log: str, repr, each message and its dict form."""
    return "\n".join(
        [str(error), repr(error), *error.field_errors.values(), json.dumps(error.to_dict(), default=str)]
    )


def assert_key_not_said(error: InvalidSettingsError, key: str = FAKE_KEY) -> None:
    """The key appears nowhere in what the error says, not even lowercased or uppercased."""
    said = everything_said(error).casefold()
    assert key.casefold() not in said, said


# ---------------------------------------------------------------------------------------------
# url


@pytest.mark.parametrize(
    ("pasted", "normalised"),
    [
        ("http://jellyseerr:5055", "http://jellyseerr:5055"),
        ("https://requests.example.org", "https://requests.example.org"),
        # whatever is pasted around it
        ("  http://jellyseerr:5055  ", "http://jellyseerr:5055"),
        ("\thttp://jellyseerr:5055\n", "http://jellyseerr:5055"),
        # a trailing slash, and the API path copied from the server's docs
        ("http://jellyseerr:5055/", "http://jellyseerr:5055"),
        ("http://jellyseerr:5055///", "http://jellyseerr:5055"),
        ("http://jellyseerr:5055/api/v1", "http://jellyseerr:5055"),
        ("http://jellyseerr:5055/api/v1/", "http://jellyseerr:5055"),
        ("http://jellyseerr:5055/API/V1", "http://jellyseerr:5055"),
        ("http://jellyseerr:5055/api/v1/api/v1/", "http://jellyseerr:5055"),
        # a reverse-proxy sub-path is part of the address
        ("https://example.org/jellyseerr", "https://example.org/jellyseerr"),
        ("https://example.org/jellyseerr/", "https://example.org/jellyseerr"),
        ("https://example.org/jellyseerr/api/v1/", "https://example.org/jellyseerr"),
        ("https://example.org/apps/seerr/api/v1", "https://example.org/apps/seerr"),
        # only a trailing /api/v1 is the API path
        ("https://example.org/api/v1/seerr", "https://example.org/api/v1/seerr"),
        ("https://example.org/myapi/v1x", "https://example.org/myapi/v1x"),
        # scheme and host are case-insensitive; the path is not
        ("HTTP://JellySeerr:5055", "http://jellyseerr:5055"),
        ("HTTPS://Example.ORG/JellySeerr", "https://example.org/JellySeerr"),
        # addresses
        ("http://192.168.1.20:5055", "http://192.168.1.20:5055"),
        ("http://[::1]:5055", "http://[::1]:5055"),
        ("http://[::1]:5055/api/v1/", "http://[::1]:5055"),
        ("http://[FE80::1]", "http://[fe80::1]"),
        ("http://localhost", "http://localhost"),
        # an empty port means the default one; leading zeros are the same port
        ("http://jellyseerr:", "http://jellyseerr"),
        ("http://jellyseerr:05055", "http://jellyseerr:5055"),
        ("https://example.org:443", "https://example.org:443"),
    ],
)
def test_url_is_normalised(pasted: str, normalised: str) -> None:
    assert validate(url=pasted)["url"] == normalised
    assert normalise_url(pasted) == normalised


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("jellyseerr:5055", "http:// or https://"),
        ("localhost:5055", "http:// or https://"),
        ("jellyseerr", "http:// or https://"),
        ("example.org/jellyseerr", "http:// or https://"),
        ("//jellyseerr:5055", "http:// or https://"),
        ("http:/jellyseerr:5055", "http:// or https://"),
        ("ftp://jellyseerr", "http:// or https://"),
        ("ws://jellyseerr:5055", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("://jellyseerr", "http:// or https://"),
        ("", "required"),
        ("   ", "required"),
        ("http://user:secret@jellyseerr:5055", "user name or password"),
        ("http://user@jellyseerr:5055", "user name or password"),
        ("http://:secret@jellyseerr:5055", "user name or password"),
        ("http://@jellyseerr:5055", "user name or password"),
        ("http://", "host"),
        ("http:///api/v1", "host"),
        ("https://:5055", "host"),
        ("http://jellyseerr:5055?apikey=x", "query"),
        ("http://jellyseerr:5055/?", "query"),
        ("http://jellyseerr:5055/#settings", "fragment"),
        ("http://jellyseerr:5055#", "fragment"),
        ("http://jellyseerr:0", "port"),
        ("http://jellyseerr:65536", "port"),
        ("http://jellyseerr:99999", "port"),
        ("http://jellyseerr:-1", "port"),
        ("http://jellyseerr:+80", "port"),
        ("http://jellyseerr:port", "port"),
        ("http://jellyseerr:50 55", "space"),
        ("http://jelly seerr:5055", "space"),
        ("http://jellyseerr:5055/\x00", "control"),
        ("http://[::1:5055", "IPv6"),
    ],
)
def test_bad_url_is_refused_with_a_helpful_message(url: str, said: str) -> None:
    assert said.lower() in error_for("url", url).lower()


@pytest.mark.parametrize("value", [None, 5055, 1.5, True, ["http://jellyseerr:5055"], {"host": "x"}])
def test_url_must_be_text(value: Any) -> None:
    assert "text" in error_for("url", value)


def test_url_is_required() -> None:
    assert field_errors({"api_key": FAKE_KEY}) == {"url": "required"}


def test_missing_scheme_tells_how_to_start() -> None:
    for url in ("jellyseerr:5055", "localhost:5055"):
        message = error_for("url", url)
        assert "http://" in message and "https://" in message


def test_normalise_url_raises_voluptuous_invalid_directly() -> None:
    with pytest.raises(vol.Invalid):
        normalise_url("jellyseerr:5055")


# ---------------------------------------------------------------------------------------------
# api_key


@pytest.mark.parametrize(
    ("pasted", "stored"),
    [
        (FAKE_KEY, FAKE_KEY),
        (f"  {FAKE_KEY}  ", FAKE_KEY),
        (f"{FAKE_KEY}\n", FAKE_KEY),
        (f"\t{FAKE_KEY}\r\n", FAKE_KEY),
        ("FAKE+base64/like==", "FAKE+base64/like=="),
        ("x", "x"),
    ],
)
def test_api_key_is_trimmed(pasted: str, stored: str) -> None:
    assert validate(api_key=pasted)["api_key"] == stored
    assert api_key(pasted) == stored


@pytest.mark.parametrize(
    "bad_key",
    [
        f"{FAKE_KEY} tail",  # inner space
        f"FAKE-KEY {FAKE_KEY}",
        f"{FAKE_KEY}\tx",  # inner tab
        f"{FAKE_KEY}\x00",  # control characters
        f"{FAKE_KEY}\x1b[0m",
        f"\x7f{FAKE_KEY}",
        f"{FAKE_KEY}é",  # not ASCII
        f"{FAKE_KEY}\u200b",  # zero-width space: invisible, not printable
        FAKE_KEY * 40,  # longer than any real key
    ],
)
def test_bad_api_key_is_refused_without_being_repeated(bad_key: str) -> None:
    with pytest.raises(InvalidSettingsError) as caught:
        validate(api_key=bad_key)
    assert set(caught.value.field_errors) == {"api_key"}
    assert_key_not_said(caught.value)
    assert_key_not_said(caught.value, bad_key.strip())


@pytest.mark.parametrize("value", ["", "   ", "\n\t"])
def test_empty_api_key_is_refused_as_required(value: str) -> None:
    assert "required" in error_for("api_key", value)


@pytest.mark.parametrize("value", [None, 12345, 1.5, True, [FAKE_KEY], {"key": FAKE_KEY}])
def test_api_key_must_be_text(value: Any) -> None:
    with pytest.raises(InvalidSettingsError) as caught:
        validate(api_key=value)
    assert set(caught.value.field_errors) == {"api_key"}
    assert "text" in caught.value.field_errors["api_key"]
    assert_key_not_said(caught.value)


def test_api_key_is_required() -> None:
    assert field_errors({"url": "http://jellyseerr:5055"}) == {"api_key": "required"}


def test_api_key_is_marked_secret() -> None:
    assert secret_fields(SETTINGS_SCHEMA) == frozenset({"api_key"})


@pytest.mark.parametrize(
    "url",
    [
        FAKE_KEY,  # the key pasted into the wrong box
        f"{FAKE_KEY}://jellyseerr",  # … with something that looks like a scheme
        f"http://{FAKE_KEY}@jellyseerr:5055",
        f"http://jellyseerr:5055/?apikey={FAKE_KEY}",
        f"http://jellyseerr:5055/#{FAKE_KEY}",
        f"http://jellyseerr:{FAKE_KEY}",
        f"http://jellyseerr:5055/{FAKE_KEY} x",
    ],
)
def test_a_key_pasted_into_the_url_is_not_repeated(url: str) -> None:
    with pytest.raises(InvalidSettingsError) as caught:
        validate(url=url)
    assert set(caught.value.field_errors) == {"url"}
    assert_key_not_said(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout", FAKE_KEY),
        ("verify_tls", FAKE_KEY),
        ("default_4k", FAKE_KEY),
        ("user_map", FAKE_KEY),
        ("user_map", {"alice": [FAKE_KEY]}),
    ],
)
def test_a_key_pasted_into_another_field_is_not_repeated(field: str, value: Any) -> None:
    with pytest.raises(InvalidSettingsError) as caught:
        validate(**{field: value})
    assert_key_not_said(caught.value)


# ---------------------------------------------------------------------------------------------
# defaults and the shape of the result


def test_defaults() -> None:
    assert validate() == {
        "url": "http://jellyseerr:5055",
        "api_key": FAKE_KEY,
        "timeout": DEFAULT_TIMEOUT,
        "verify_tls": True,
        "default_4k": False,
        "progress_interval": 60.0,
        "user_map": {},
    }
    assert DEFAULT_TIMEOUT == 10.0
    assert isinstance(validate()["timeout"], float)


def test_default_user_map_is_not_shared_between_results() -> None:
    first = validate()
    first["user_map"]["alice"] = 7
    assert validate()["user_map"] == {}


def test_input_is_not_modified() -> None:
    raw = {"url": " HTTP://Jellyseerr:5055/api/v1/ ", "api_key": f" {FAKE_KEY} ", "user_map": {" a ": "7"}}
    snapshot = json.loads(json.dumps(raw))
    validate_settings(SETTINGS_SCHEMA, raw)
    assert raw == snapshot


def test_full_settings_round_trip() -> None:
    raw = {
        "url": " HTTPS://Example.org/Jellyseerr/api/v1/ ",
        "api_key": f"  {FAKE_KEY}\n",
        "timeout": "30",
        "verify_tls": "no",
        "default_4k": "Yes",
        "user_map": {" alice ": "12", "bob": "bob@example.org", "carol": 3},
    }
    settings = validate_settings(SETTINGS_SCHEMA, raw)
    assert settings == {
        "url": "https://example.org/Jellyseerr",
        "api_key": FAKE_KEY,
        "timeout": 30.0,
        "verify_tls": False,
        "default_4k": True,
        "progress_interval": 60.0,
        "user_map": {"alice": 12, "bob": "bob@example.org", "carol": 3},
    }
    # what was stored validates to itself
    assert validate_settings(SETTINGS_SCHEMA, settings) == settings


# ---------------------------------------------------------------------------------------------
# timeout


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (1, 1.0),
        (1.0, 1.0),
        (10, 10.0),
        (2.5, 2.5),
        (300, 300.0),
        (300.0, 300.0),
        ("30", 30.0),
        (" 7.5 ", 7.5),
    ],
)
def test_timeout_accepts_seconds_from_1_to_300(value: Any, seconds: float) -> None:
    result = validate(timeout=value)["timeout"]
    assert result == seconds and isinstance(result, float)


@pytest.mark.parametrize(
    "value",
    [
        0,
        0.99,
        -1,
        300.01,
        301,
        10**6,
        pytest.param(10**400, id="10**400"),
        "0",
        "1e400",
        "-inf",
        "inf",
        "nan",
        math.nan,
        math.inf,
    ],
)
def test_timeout_out_of_range_is_refused(value: Any) -> None:
    assert "between 1 and 300" in error_for("timeout", value)


@pytest.mark.parametrize("value", [None, "", "ten", "10s", [10], {"s": 10}, True, False])
def test_timeout_must_be_a_number(value: Any) -> None:
    assert "number" in error_for("timeout", value)


# ---------------------------------------------------------------------------------------------
# verify_tls, default_4k

TRUE_VALUES = [True, 1, "true", "True", "TRUE", "yes", "Yes", "on", "ON", "1", "enable", " true "]
FALSE_VALUES = [False, 0, "false", "False", "no", "NO", "off", "0", "disable", "Disable"]
NOT_BOOLEANS = [None, "", "maybe", "y", "truthy", 2, -1, 0.5, 1.0, [], [True], {}, {"on": True}]


@pytest.mark.parametrize("field", ["verify_tls", "default_4k"])
@pytest.mark.parametrize("value", TRUE_VALUES)
def test_switch_accepts_true(field: str, value: Any) -> None:
    assert validate(**{field: value})[field] is True


@pytest.mark.parametrize("field", ["verify_tls", "default_4k"])
@pytest.mark.parametrize("value", FALSE_VALUES)
def test_switch_accepts_false(field: str, value: Any) -> None:
    assert validate(**{field: value})[field] is False


@pytest.mark.parametrize("field", ["verify_tls", "default_4k"])
@pytest.mark.parametrize("value", NOT_BOOLEANS)
def test_switch_refuses_what_is_not_a_boolean(field: str, value: Any) -> None:
    # notably a null verify_tls must not silently switch certificate checks off
    assert "true or false" in error_for(field, value)


# ---------------------------------------------------------------------------------------------
# user_map


@pytest.mark.parametrize(
    ("given_map", "stored"),
    [
        ({}, {}),
        ({"alice": 12}, {"alice": 12}),
        ({"alice": "12"}, {"alice": 12}),
        ({"alice": " 12 "}, {"alice": 12}),
        ({"alice": "007"}, {"alice": 7}),
        ({"alice": 2**63 - 1}, {"alice": 2**63 - 1}),
        ({"alice": "alice_jf"}, {"alice": "alice_jf"}),
        ({"alice": " alice@example.org "}, {"alice": "alice@example.org"}),
        ({" alice ": "bob"}, {"alice": "bob"}),
        ({"Alice Smith": "alice"}, {"Alice Smith": "alice"}),
        ({"alice": "-1"}, {"alice": "-1"}),  # not a number: a (strange) username
        ({"alice": "12a"}, {"alice": "12a"}),
        ({"alice": "١٢"}, {"alice": "١٢"}),  # Arabic-Indic digits: text, not an id
        ({"alice": "²"}, {"alice": "²"}),
        ({"alice": 1, "bob": "bob", "carol": "3"}, {"alice": 1, "bob": "bob", "carol": 3}),
    ],
)
def test_user_map(given_map: dict[str, Any], stored: dict[str, Any]) -> None:
    result = validate(user_map=given_map)["user_map"]
    assert result == stored
    assert {k: type(v) for k, v in result.items()} == {k: type(v) for k, v in stored.items()}


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (0, "positive"),
        (-3, "positive"),
        ("0", "positive"),
        ("000", "positive"),
        (2**63, "too large"),
        ("9" * 30, "too large"),
        ("9" * 5000, "too large"),
        (True, "user id, username or email"),
        (False, "user id, username or email"),
        (None, "user id, username or email"),
        (1.5, "user id, username or email"),
        ("", "user id, username or email"),
        ("   ", "user id, username or email"),
        ([1], "user id, username or email"),
        ({"id": 1}, "user id, username or email"),
    ],
)
def test_user_map_refuses_bad_targets(value: Any, said: str) -> None:
    errors = field_errors({**VALID, "user_map": {"alice": value}})
    assert list(errors) == ["user_map.alice"]
    assert said in errors["user_map.alice"]


@pytest.mark.parametrize("name", ["", "   "])
def test_user_map_refuses_empty_aperture_usernames(name: str) -> None:
    errors = field_errors({**VALID, "user_map": {name: 3}})
    assert len(errors) == 1
    ((path, message),) = errors.items()
    assert path.startswith("user_map")
    assert "Aperture username" in message


@pytest.mark.parametrize("value", [None, [], [["alice", 1]], "alice=1", 3, True])
def test_user_map_must_be_a_mapping(value: Any) -> None:
    assert error_for("user_map", value)


def test_user_map_reports_each_bad_entry() -> None:
    errors = field_errors({**VALID, "user_map": {"alice": 0, "bob": "bob", "carol": None}})
    assert set(errors) == {"user_map.alice", "user_map.carol"}


# ---------------------------------------------------------------------------------------------
# the form as a whole


@pytest.mark.parametrize("name", ["apikey", "URL", "timeout_s", "password", "verify_ssl"])
def test_unknown_field_is_refused(name: str) -> None:
    errors = field_errors({**VALID, name: "x"})
    assert errors == {name: "not a setting of this provider"}


def test_an_unknown_field_with_an_empty_name_is_named_as_such() -> None:
    assert field_errors({**VALID, "": "x"}) == {'""': "not a setting of this provider"}
    assert field_errors({**VALID, "user_map": {"": 3}}) == {
        'user_map.""': "an Aperture username must be non-empty text"
    }


def test_each_bad_field_gets_its_own_entry() -> None:
    errors = field_errors(
        {"url": "jellyseerr:5055", "api_key": f"{FAKE_KEY} x", "timeout": 0, "verify_tls": "maybe"}
    )
    assert set(errors) == {"url", "api_key", "timeout", "verify_tls"}
    assert len(set(errors.values())) == 4


def test_three_bad_fields_give_three_entries() -> None:
    errors = field_errors({"url": "ftp://jellyseerr", "api_key": FAKE_KEY, "timeout": "ten", "nonsense": 1})
    assert set(errors) == {"url", "timeout", "nonsense"}


def test_everything_missing_reports_both_required_fields() -> None:
    assert field_errors({}) == {"url": "required", "api_key": "required"}


def test_the_error_names_the_fields_and_the_provider() -> None:
    with pytest.raises(InvalidSettingsError) as caught:
        validate_settings(SETTINGS_SCHEMA, {"url": "jellyseerr:5055"}, provider=PROVIDER)
    error = caught.value
    assert error.provider == PROVIDER
    assert "url" in str(error) and "api_key" in str(error)
    assert error.to_dict()["field_errors"] == error.field_errors


# ---------------------------------------------------------------------------------------------
# properties

json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

# URL-shaped text reaches the deep branches that arbitrary text rarely does.
url_like = st.builds(
    lambda lead, scheme, sep, auth, host, port, path, tail, trail: (
        f"{lead}{scheme}{sep}{auth}{host}{port}{path}{tail}{trail}"
    ),
    st.sampled_from(["", " ", "\t", "\n"]),
    st.sampled_from(["http", "https", "HTTP", "Https", "ftp", "", "1http", "h ttp"]),
    st.sampled_from(["://", ":/", ":", "//", ":///"]),
    st.sampled_from(["", "", "", "user@", "user:pw@", "@", ":@"]),
    st.sampled_from(["jellyseerr", "Example.ORG", "[::1]", "[fe80::1%25eth0]", "[::1", "127.0.0.1", ""])
    | st.text(max_size=6),
    st.sampled_from(["", "", ":5055", ":", ":0", ":65535", ":65536", ":x", ":+1", ":٥"]),
    st.lists(st.sampled_from(["", "api", "v1", "API", "V1", "jellyseerr", "api/v1", "a b"]), max_size=6).map(
        lambda segments: "".join("/" + s for s in segments)
    ),
    st.sampled_from(["", "", "", "?", "#", "?q=1", "#f", "/"]),
    st.sampled_from(["", " ", "\n"]),
)


def check_outcome(raw: dict[str, Any]) -> dict[str, Any] | InvalidSettingsError:
    """Validate ``raw``: the result, or the InvalidSettingsError; any other exception fails."""
    try:
        return validate_settings(SETTINGS_SCHEMA, raw, provider=PROVIDER)
    except InvalidSettingsError as error:
        refused = error
    assert refused.field_errors
    assert all(isinstance(m, str) and m for m in refused.field_errors.values())
    return refused


def assert_normalised_url(url: str) -> None:
    assert url.startswith(("http://", "https://"))
    assert not url.endswith("/")
    assert not url.lower().endswith("/api/v1")
    assert "?" not in url and "#" not in url and "@" not in url
    assert url == url.strip() and not any(ch.isspace() for ch in url)
    parts = urlsplit(url)
    assert parts.hostname
    assert url.split("://", 1)[0] == parts.scheme == parts.scheme.lower()
    assert parts.port != 0
    assert normalise_url(url) == url, "normalising twice must change nothing"


@given(url=st.text() | url_like, key=st.text())
@hyp_settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@example(url="http://jellyseerr:5055/api/v1/api/v1", key=FAKE_KEY)
@example(url="http://jellyseerr:", key=FAKE_KEY)
@example(url="http://[::1]:5055/", key=f" {FAKE_KEY} ")
@example(url=f"{FAKE_KEY}://x", key=f"{FAKE_KEY} x")
def test_any_url_and_key_give_settings_or_invalid_settings(url: str, key: str) -> None:
    outcome = check_outcome({"url": url, "api_key": key})
    if isinstance(outcome, InvalidSettingsError):
        assert set(outcome.field_errors) <= {"url", "api_key"}
        return
    assert_normalised_url(outcome["url"])
    assert outcome["api_key"] == key.strip()
    assert outcome["api_key"].isascii() and outcome["api_key"].isprintable()
    assert " " not in outcome["api_key"]


@given(url=st.text() | url_like)
@hyp_settings(max_examples=300)
def test_url_is_refused_exactly_when_normalise_url_refuses_it(url: str) -> None:
    try:
        expected = normalise_url(url)
    except vol.Invalid:
        expected = None
    outcome = check_outcome({**VALID, "url": url})
    if expected is None:
        assert isinstance(outcome, InvalidSettingsError) and set(outcome.field_errors) == {"url"}
    else:
        assert isinstance(outcome, dict) and outcome["url"] == expected


@given(before=st.text(), after=st.text())
@example(before="", after=" ")
@example(before="\x00", after="")
@example(before="a b", after="")
def test_an_invalid_key_is_never_repeated(before: str, after: str) -> None:
    key = f"{before}{FAKE_KEY}{after}"
    outcome = check_outcome({**VALID, "api_key": key})
    if isinstance(outcome, InvalidSettingsError):
        assert_key_not_said(outcome)
    else:
        assert outcome["api_key"] == key.strip()


@pytest.mark.parametrize("field", FIELDS)
@given(value=json_like)
@hyp_settings(max_examples=150)
@example(value=10**400)
@example(value=None)
@example(value=[])
@example(value={"alice": "0"})
def test_any_json_value_in_one_field_gives_settings_or_an_error_for_that_field(
    field: str, value: Any
) -> None:
    outcome = check_outcome({**VALID, field: value})
    if isinstance(outcome, InvalidSettingsError):
        assert all(name == field or name.startswith(f"{field}.") for name in outcome.field_errors)
        return
    assert set(outcome) == set(FIELDS)
    assert_normalised_url(outcome["url"])
    assert isinstance(outcome["api_key"], str) and outcome["api_key"]
    assert type(outcome["timeout"]) is float and 1 <= outcome["timeout"] <= 300
    assert type(outcome["verify_tls"]) is bool and type(outcome["default_4k"]) is bool
    assert isinstance(outcome["user_map"], dict)
    for name, target in outcome["user_map"].items():
        assert isinstance(name, str) and name and name == name.strip()
        if isinstance(target, str):
            assert target and target == target.strip()
            assert not (target.isascii() and target.isdigit()), "digit strings become ids"
        else:
            assert type(target) is int and 0 < target < 2**63


leaky = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.just(FAKE_KEY)
    | st.builds(lambda a, b: f"{a}{FAKE_KEY}{b}", st.text(max_size=4), st.text(max_size=4)),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@given(raw=st.fixed_dictionaries({}, optional={field: leaky for field in FIELDS}))
@hyp_settings(max_examples=300)
def test_no_message_repeats_a_value_that_holds_the_key(raw: dict[str, Any]) -> None:
    outcome = check_outcome(raw)
    if isinstance(outcome, InvalidSettingsError):
        assert_key_not_said(outcome)


# Unknown names are non-empty: validate_settings (in aperture_hookspecs) reports an error whose
# path joins to "" under the name "settings", which is a matter for that module, not this schema.
@given(raw=st.dictionaries(st.text(min_size=1, max_size=12) | st.sampled_from(FIELDS), json_like, max_size=8))
@hyp_settings(max_examples=200)
def test_any_json_object_gives_settings_or_invalid_settings(raw: dict[str, Any]) -> None:
    outcome = check_outcome(raw)
    if isinstance(outcome, InvalidSettingsError):
        unknown = set(raw) - set(FIELDS)
        missing = {"url", "api_key"} - set(raw)
        assert unknown <= set(outcome.field_errors)
        assert missing <= set(outcome.field_errors)
    else:
        assert set(outcome) == set(FIELDS)
