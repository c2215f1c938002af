"""The one place that turns regional ids and URLs into global ones.

A regional body names its own ids and its own endpoint in ``links``; tenants
must only ever see global ids and Cascade's URLs.
"""
from __future__ import annotations

from typing import Any, Iterable

__all__ = ["rewrite_url", "rewrite_links", "server_to_global", "servers_to_global",
           "flavor_to_global", "swap_image_id", "HIDDEN_METADATA_KEYS",
           "GLOBAL_ID_KEY",
           "OWNER_KEY"]

#: Metadata key each regional server carries with its global id.
GLOBAL_ID_KEY = "cascade_global_id"
#: Which Cascade deployment made the regional object (``[DEFAULT] cascade_id``).
OWNER_KEY = "cascade_owner"
HIDDEN_METADATA_KEYS = frozenset({GLOBAL_ID_KEY, OWNER_KEY})

_AZ_KEY = "OS-EXT-AZ:availability_zone"
_PINNED_AZ_KEY = "pinned_availability_zone"


class _Bases:
    """A regional base and Cascade's, with what ``rewrite_url`` derives from them.

    Worked out once per pair: every server of every list goes through here.
    """

    __slots__ = ("regional", "cascade", "regional_root", "cascade_root")

    def __init__(self, regional_base: str, cascade_base: str) -> None:
        self.regional = regional_base.rstrip("/")
        self.cascade = cascade_base.rstrip("/")
        r_root, _, r_ver = self.regional.rpartition("/")
        c_root, _, c_ver = self.cascade.rpartition("/")
        # Nova's bookmark links omit the version (``http://nova/servers/x``): the
        # roots match only when both bases end in the same version segment.
        self.regional_root: str | None = r_root + "/" if r_ver == c_ver else None
        self.cascade_root = c_root

    def url(self, url: str, local_id: str | None = None, global_id: str | None = None) -> str:
        if local_id and global_id and local_id != global_id:
            return self._url(url, f"/{local_id}", f"/{global_id}")
        return self._url(url, None, None)

    def _url(self, url: str, old: str | None, new: str | None) -> str:
        regional = self.regional
        if url.startswith(regional):
            url = self.cascade + url[len(regional):]
        elif self.regional_root is not None and url.startswith(self.regional_root):
            url = self.cascade_root + url[len(self.regional_root) - 1:]
        if old is not None and new is not None:
            url = url.replace(old, new)
        return url

    def links(self, links: Any, local_id: str | None = None,
              global_id: str | None = None) -> Any:
        if not isinstance(links, list):
            return links
        old = new = None
        if local_id and global_id and local_id != global_id:
            old, new = f"/{local_id}", f"/{global_id}"
        url = self._url
        return [{**ln, "href": url(ln["href"], old, new)}
                if isinstance(ln, dict) and isinstance(ln.get("href"), str) else ln
                for ln in links]

    def links_in_place(self, links: Any, local_id: str | None = None,
                       global_id: str | None = None) -> None:
        if not isinstance(links, list):
            return
        old = new = None
        if local_id and global_id and local_id != global_id:
            old, new = f"/{local_id}", f"/{global_id}"
        for ln in links:
            if isinstance(ln, dict):
                href = ln.get("href")
                if isinstance(href, str):
                    ln["href"] = self._url(href, old, new)


_BASES: dict[tuple[str, str], _Bases] = {}


def _bases(regional_base: str, cascade_base: str) -> _Bases:
    hit = _BASES.get((regional_base, cascade_base))
    if hit is None:
        if len(_BASES) > 256:  # Cascade's base follows the request's Host: keep it bounded
            _BASES.clear()
        hit = _BASES[(regional_base, cascade_base)] = _Bases(regional_base, cascade_base)
    return hit


def rewrite_url(url: str, regional_base: str, cascade_base: str,
                local_id: str | None = None, global_id: str | None = None) -> str:
    """Point ``url`` at Cascade, swapping the local id for the global one.

    Nova's bookmark links omit the version (``http://nova/servers/x``), so the
    regional base is matched both with and without its last path segment.
    """
    return _bases(regional_base, cascade_base).url(url, local_id, global_id)


def rewrite_links(links: Any, regional_base: str, cascade_base: str,
                  local_id: str | None = None, global_id: str | None = None) -> Any:
    """Rewrite every ``href`` in a list of link objects."""
    return _bases(regional_base, cascade_base).links(links, local_id, global_id)


def _globalise(out: dict[str, Any], global_id: str, bases: _Bases,
               availability_zone: str | None) -> None:
    """Rewrite the top-level keys of ``out`` (sub-objects are replaced, never changed)."""
    local_id = out.get("id")
    out["id"] = global_id
    links = out.get("links")
    if links is not None:
        out["links"] = bases.links(links, local_id, global_id)
    for key in ("image", "flavor"):
        ref = out.get(key)
        if isinstance(ref, dict) and "links" in ref:
            out[key] = {**ref, "links": bases.links(ref["links"])}
    metadata = out.get("metadata")
    if isinstance(metadata, dict) and not HIDDEN_METADATA_KEYS.isdisjoint(metadata):
        out["metadata"] = {k: v for k, v in metadata.items() if k not in HIDDEN_METADATA_KEYS}
    if availability_zone is not None and _AZ_KEY in out:
        out[_AZ_KEY] = availability_zone
    if availability_zone is not None and out.get(_PINNED_AZ_KEY):
        out[_PINNED_AZ_KEY] = availability_zone


def _globalise_in_place(server: dict[str, Any], global_id: str, bases: _Bases,
                        availability_zone: str | None) -> None:
    """``_globalise`` that also changes the sub-objects instead of copying them."""
    local_id = server.get("id")
    server["id"] = global_id
    bases.links_in_place(server.get("links"), local_id, global_id)
    for key in ("image", "flavor"):
        ref = server.get(key)
        if isinstance(ref, dict):
            bases.links_in_place(ref.get("links"))
    metadata = server.get("metadata")
    if isinstance(metadata, dict):
        for hidden in HIDDEN_METADATA_KEYS:
            metadata.pop(hidden, None)
    if availability_zone is not None and _AZ_KEY in server:
        server[_AZ_KEY] = availability_zone
    if availability_zone is not None and server.get(_PINNED_AZ_KEY):
        # 2.96: the zone the server is pinned to is its region's, in Cascade's name.
        server[_PINNED_AZ_KEY] = availability_zone


def server_to_global(server: dict[str, Any], global_id: str, regional_base: str,
                     cascade_base: str, *, availability_zone: str | None = None
                     ) -> dict[str, Any]:
    """A regional server body as tenants see it through Cascade (``server`` is left as is)."""
    out = dict(server)
    _globalise(out, global_id, _bases(regional_base, cascade_base), availability_zone)
    return out


def servers_to_global(servers: Iterable[tuple[dict[str, Any], str]], regional_base: str,
                      cascade_base: str, *, availability_zone: str | None = None) -> None:
    """``server_to_global`` in place, for ``(server, global_id)`` pairs of one region.

    For regional bodies that nobody else holds (an answer just decoded): nothing
    is copied, the servers and their links are changed where they are.
    """
    bases = _bases(regional_base, cascade_base)
    for server, global_id in servers:
        _globalise_in_place(server, global_id, bases, availability_zone)


def swap_image_id(image: dict[str, Any], global_id: str) -> dict[str, Any]:
    """A server's ``image`` (not changed) with its global id, in its links too
    (they point at Cascade's image API, which knows global ids)."""
    local_id = str(image.get("id"))
    out = {**image, "id": global_id}
    links = image.get("links")
    if isinstance(links, list):
        out["links"] = [{**ln, "href": ln["href"].replace(local_id, global_id)}
                        if isinstance(ln, dict) and isinstance(ln.get("href"), str) else ln
                        for ln in links]
    return out


def flavor_to_global(flavor: dict[str, Any], regional_base: str,
                     cascade_base: str) -> dict[str, Any]:
    """Flavors keep their ids (matched across regions by id); only links change."""
    out = dict(flavor)
    if "links" in out:
        out["links"] = rewrite_links(out["links"], regional_base, cascade_base)
    return out

