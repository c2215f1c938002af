"""Regional URL paths built only from Cascade's own grammar.

A tenant's raw path never reaches a region: every segment Cascade puts into a
regional URL is a constant of its own, an id it resolved, or a value it
validated and percent-encoded here (``segment``). ``check`` is the last line:
``RegionClient`` refuses any path that is not in the canonical form ``segment``
produces, so a handler that forgot to validate still cannot send ``..``, an
encoded ``/`` or an empty segment to a region.
"""
from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit

from cascade import errors

__all__ = ["UnsafePath", "segment", "build", "check", "endpoint_url", "request_path_ok"]

#: What a canonical segment is made of: RFC 3986 unreserved characters and
#: percent escapes (``quote(..., safe="")`` writes nothing else).
_CANONICAL = re.compile(r"(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})+")
#: Characters no segment may decode to: separators and controls.
_FORBIDDEN = re.compile(r"[/\\\x00-\x1f\x7f]")
#: Longest segment Cascade builds (Nova's names and ids stop at 255).
MAX_SEGMENT = 255


class UnsafePath(errors.NotFound):
    """A value cannot be a path segment, or a path is not in canonical form.

    A ``NotFound``: a value that cannot name anything finds nothing, and the
    answer (404 in the service's format) is the one the real service gives to
    a path its router does not know.
    """

    def __init__(self, message: str = "The resource could not be found.") -> None:
        super().__init__(message)


def _decoded_ok(value: str) -> bool:
    return (0 < len(value) <= MAX_SEGMENT and value not in (".", "..")
            and _FORBIDDEN.search(value) is None)


def segment(value: object) -> str:
    """``value`` (already decoded) as one percent-encoded path segment.

    :raises UnsafePath: empty, ``.`` or ``..``, too long, or holding ``/``,
        ``\\`` or a control character.
    """
    text = str(value)
    if not _decoded_ok(text):
        raise UnsafePath()
    try:
        return quote(text, safe="")
    except UnicodeEncodeError:  # a lone surrogate cannot be sent anywhere
        raise UnsafePath() from None


def build(*parts: object) -> str:
    """``/part/part/...``, each part through ``segment``.

    :raises UnsafePath: a part cannot be a segment.
    """
    return "".join("/" + segment(p) for p in parts)


def check(path: str) -> None:
    """Refuse a regional path that ``build`` could not have made.

    Allowed: ``/`` followed by canonical segments, each decoding to a value
    ``segment`` accepts. A trailing ``/`` is not allowed either.

    :raises UnsafePath: anything else.
    """
    if not path.startswith("/"):
        raise UnsafePath()
    for part in path[1:].split("/"):
        if _CANONICAL.fullmatch(part) is None:
            raise UnsafePath()
        if "%" in part or part in (".", ".."):
            try:
                decoded = unquote(part, errors="strict")
            except UnicodeDecodeError:
                raise UnsafePath() from None
            if not _decoded_ok(decoded):
                raise UnsafePath()


def endpoint_url(value: str) -> str:
    """An operator's endpoint override, checked: ``http(s)://host[:port][/path]``,
    no credentials, query or fragment, and a path of canonical segments.

    :raises BadRequest: anything else.
    """
    try:
        url = urlsplit(value)
        host, port = url.hostname, url.port
    except (ValueError, TypeError, AttributeError):
        raise errors.BadRequest(f"Invalid endpoint URL: {value!r}") from None
    path = url.path.rstrip("/")
    ok = (url.scheme in ("http", "https") and bool(host) and port != 0
          and url.username is None and url.password is None and not url.query
          and not url.fragment and "?" not in value and "#" not in value)
    if ok and path:
        try:
            check(path)
        except UnsafePath:
            ok = False
    if not ok:
        raise errors.BadRequest(f"Invalid endpoint URL: {value!r} (http or https, a host, "
                                "no user, query or fragment)")
    return value


def request_path_ok(raw_path: str) -> bool:
    """Whether a client's raw request path (query excluded) can be routed honestly.

    False when a segment is ``.`` or ``..`` (raw or percent-encoded), decodes
    to something holding ``/`` or ``\\`` or a control character, or is empty
    anywhere but at the end: the real services cannot route such paths either
    (their WSGI servers decode ``%2F`` into a separator), and to a gateway they
    are the way out of the route that was matched.
    """
    if "%" not in raw_path and "/." not in raw_path and "//" not in raw_path \
            and "\\" not in raw_path:
        return True  # the common case, decided without splitting
    parts = raw_path.split("/")
    last = len(parts) - 1
    for i, part in enumerate(parts[1:], start=1):
        if not part:
            if i != last:
                return False
            continue
        try:
            decoded = unquote(part, errors="strict") if "%" in part else part
        except UnicodeDecodeError:
            return False
        if decoded in (".", "..") or _FORBIDDEN.search(decoded) is not None:
            return False
    return True
