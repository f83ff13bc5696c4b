"""The kit's pytest plugin: fixtures a provider's own tests can use, and a report header.

Registered by ``pytest -p aperture_hookspecs.testing`` or, once ``aperture-hookspecs`` is
installed, by its ``pytest11`` entry point. The suite does not need them (it makes its own
servers); they are for the author's fixtures and extra tests:

* ``aperture_canary`` – a fresh fake secret to use as the API key of a fake server: the kit
  looks for it in every message, repr and log line, and a settings field holding it must be
  marked ``Secret``;
* ``aperture_closed_port`` – a base URL that refuses connections;
* ``aperture_stalling_server`` – a base URL whose server accepts and never answers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .. import __version__
from .promises import PROMISES
from .servers import closed_port, stalling_server
from .supplied import new_canary

__all__ = ["aperture_canary", "aperture_closed_port", "aperture_stalling_server", "pytest_report_header"]


@pytest.fixture
def aperture_canary() -> str:
    """A fresh fake secret (``APERTURE-KIT-CANARY-…``)."""
    return new_canary()


@pytest.fixture
def aperture_closed_port() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` where nothing listens (the port is held, so nothing can)."""
    with closed_port() as url:
        yield url


@pytest.fixture
def aperture_stalling_server() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` whose server accepts every connection and never answers."""
    with stalling_server() as url:
        yield url


def pytest_report_header() -> str:
    return f"aperture provider conformance kit: {len(PROMISES)} promises (aperture-hookspecs {__version__})"
