"""Which servers the benchmark runs against: a product, a release, and whether ``updatedAt`` moves.

The provider watches the media table differently on servers whose ``updatedAt`` never moves
(Jellyseerr 2.6 – 2.7, Seerr 3.0 – 3.1: notes §12 trap 16) and on those where it moves
(Overseerr, Jellyseerr < 2.6, Seerr ≥ 3.2), so ``make bench`` measures one of each, side by side.
The default pair is the same product one release apart, so only the stamps differ:
``seerr`` (3.1.0, frozen) and ``seerr@3.2.0`` (moving). ``--flavours`` takes any list of
``product[@version][:frozen|:moving]`` (``jellyseerr``, ``overseerr``, ``jellyseerr@2.5.2``,
``seerr@3.1.0:moving`` for a fork whose version says nothing); the first one also runs the
scenarios that do not depend on the stamps (naive baseline, concurrent users).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aperture_overseerr.testing.fake_flavours import FLAVOURS, flavour_traits

DEFAULT_FLAVOURS = "seerr,seerr@3.2.0"


@dataclass(frozen=True)
class Flavour:
    """One server to benchmark: ``FakeSeerr(product, version=..., frozen_updated_at=...)``."""

    product: str
    version: str | None = None
    frozen_updated_at: bool | None = None

    @property
    def traits(self) -> Any:
        return flavour_traits(self.product, self.version, frozen_updated_at=self.frozen_updated_at)  # type: ignore[arg-type]

    @property
    def frozen(self) -> bool:
        """Does this server keep ``updatedAt`` at the creation second?"""
        return bool(self.traits.frozen_updated_at)

    @property
    def stamps(self) -> str:
        return "frozen" if self.frozen else "moving"

    @property
    def label(self) -> str:
        """``Seerr 3.1.0 (frozen)``."""
        traits = self.traits
        return f"{traits.product} {traits.version} ({self.stamps})"

    @property
    def key(self) -> str:
        """A name for ``results.json``: ``seerr-3.1.0-frozen``."""
        return f"{self.product}-{self.traits.version}-{self.stamps}"

    def describe(self) -> dict[str, Any]:
        return {
            "product": self.traits.product,
            "version": self.traits.version,
            "updated_at": self.stamps,
            "fake": self.fake_call(),
        }

    def fake_call(self) -> str:
        """How the fake is built, as code: ``FakeSeerr('seerr', version='3.2.0')``."""
        args = [repr(self.product)]
        if self.version is not None:
            args.append(f"version={self.version!r}")
        if self.frozen_updated_at is not None:
            args.append(f"frozen_updated_at={self.frozen_updated_at}")
        return f"FakeSeerr({', '.join(args)})"


def parse_flavour(text: str) -> Flavour:
    """``product[@version][:frozen|:moving]`` → :class:`Flavour`; a clear ``ValueError`` otherwise."""
    spec, _, stamps = text.strip().partition(":")
    product, _, version = spec.partition("@")
    if product not in FLAVOURS:
        raise ValueError(f"unknown product {product!r} in {text!r}; use one of {', '.join(FLAVOURS)}")
    if stamps not in ("", "frozen", "moving"):
        raise ValueError(f"{text!r}: after ':' write 'frozen' or 'moving', not {stamps!r}")
    flavour = Flavour(product, version or None, None if not stamps else stamps == "frozen")
    flavour.traits  # noqa: B018 - checks the version text
    return flavour


def parse_flavours(text: str) -> list[Flavour]:
    """A comma-separated list of flavours, at least one, no two alike."""
    flavours = [parse_flavour(part) for part in text.split(",") if part.strip()]
    if not flavours:
        raise ValueError("name at least one server flavour")
    keys = [flavour.key for flavour in flavours]
    if len(set(keys)) != len(keys):
        raise ValueError(f"the same server is named twice in {text!r}")
    return flavours
