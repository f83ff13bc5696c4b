"""The permission bits of the Seerr family and the questions Aperture asks of them (notes §9).

``hasPermission`` on the server: the ADMIN bit passes everything; a list of bits is checked
with *or* here because that is how the request route asks (``REQUEST`` or ``REQUEST_MOVIE``).
"""

from __future__ import annotations

from enum import IntFlag


class Permission(IntFlag):
    """The bits that matter for requesting (values identical in every product)."""

    NONE = 0
    ADMIN = 2
    MANAGE_USERS = 8
    MANAGE_REQUESTS = 16
    REQUEST = 32
    AUTO_APPROVE = 128
    AUTO_APPROVE_MOVIE = 256
    AUTO_APPROVE_TV = 512
    REQUEST_4K = 1024
    REQUEST_4K_MOVIE = 2048
    REQUEST_4K_TV = 4096
    REQUEST_VIEW = 16384
    AUTO_APPROVE_4K = 32768
    AUTO_APPROVE_4K_MOVIE = 65536
    AUTO_APPROVE_4K_TV = 131072
    REQUEST_MOVIE = 262144
    REQUEST_TV = 524288


def has_any(permissions: int, *bits: Permission) -> bool:
    """True if the user is an admin or holds any of ``bits``."""
    if permissions & Permission.ADMIN:
        return True
    return any(permissions & bit for bit in bits)


def is_admin(permissions: int) -> bool:
    return bool(permissions & Permission.ADMIN)


def may_request(permissions: int, media_type: str, is_4k: bool = False) -> bool:
    """May this user request a ``movie``/``tv`` title (in 4K)?"""
    if is_4k:
        specific = Permission.REQUEST_4K_MOVIE if media_type == "movie" else Permission.REQUEST_4K_TV
        return has_any(permissions, Permission.REQUEST_4K, specific)
    specific = Permission.REQUEST_MOVIE if media_type == "movie" else Permission.REQUEST_TV
    return has_any(permissions, Permission.REQUEST, specific)


def auto_approves(permissions: int, media_type: str, is_4k: bool = False) -> bool:
    """Will the server approve this user's request at once (no Pending)?"""
    if is_4k:
        specific = (
            Permission.AUTO_APPROVE_4K_MOVIE if media_type == "movie" else Permission.AUTO_APPROVE_4K_TV
        )
        return has_any(permissions, Permission.MANAGE_REQUESTS, Permission.AUTO_APPROVE_4K, specific)
    specific = Permission.AUTO_APPROVE_MOVIE if media_type == "movie" else Permission.AUTO_APPROVE_TV
    return has_any(permissions, Permission.MANAGE_REQUESTS, Permission.AUTO_APPROVE, specific)


def quota_exempt(permissions: int) -> bool:
    """Admins and MANAGE_USERS holders have no quota."""
    return has_any(permissions, Permission.MANAGE_USERS)
