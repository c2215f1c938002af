"""The one place that turns regional ids and URLs into global ones.

A regional body names its own ids and its own endpoint in ``links``; tenants
must only ever see global ids and Cascade's URLs.
"""
from __future__ import annotations

from typing import Any

__all__ = ["rewrite_url", "rewrite_links", "server_to_global", "flavor_to_global",
           "HIDDEN_METADATA_KEYS", "GLOBAL_ID_KEY"]

#: Metadata key each regional server carries with its global id.
GLOBAL_ID_KEY = "cascade_global_id"
HIDDEN_METADATA_KEYS = frozenset({GLOBAL_ID_KEY})


def rewrite_url(url: str, regional_base: str, cascade_base: str,
                local_id: str | None = None, global_id: str | None = None) -> str:
    """Point ``url`` at Cascade, swapping the local id for the global one.

    Nova's bookmark links omit the version (``http://nova/servers/x``), so the
    regional base is matched both with and without its last path segment.
    """
    regional_base = regional_base.rstrip("/")
    cascade_base = cascade_base.rstrip("/")
    out = url
    if url.startswith(regional_base):
        out = cascade_base + url[len(regional_base):]
    else:
        r_root, _, r_ver = regional_base.rpartition("/")
        c_root, _, c_ver = cascade_base.rpartition("/")
        if r_ver == c_ver and url.startswith(r_root + "/"):
            out = c_root + url[len(r_root):]
    if local_id and global_id and local_id != global_id:
        out = out.replace(f"/{local_id}", f"/{global_id}")
    return out


def rewrite_links(links: Any, regional_base: str, cascade_base: str,
                  local_id: str | None = None, global_id: str | None = None) -> Any:
    """Rewrite every ``href`` in a list of link objects."""
    if not isinstance(links, list):
        return links
    return [{**ln, "href": rewrite_url(ln["href"], regional_base, cascade_base,
                                       local_id, global_id)}
            if isinstance(ln, dict) and isinstance(ln.get("href"), str) else ln
            for ln in links]


def server_to_global(server: dict[str, Any], global_id: str, regional_base: str,
                     cascade_base: str, *, availability_zone: str | None = None
                     ) -> dict[str, Any]:
    """A regional server body as tenants see it through Cascade."""
    local_id = server.get("id")
    out = dict(server)
    out["id"] = global_id
    if "links" in out:
        out["links"] = rewrite_links(out["links"], regional_base, cascade_base,
                                     local_id, global_id)
    for key in ("image", "flavor"):
        ref = out.get(key)
        if isinstance(ref, dict) and "links" in ref:
            out[key] = {**ref, "links": rewrite_links(ref["links"], regional_base, cascade_base)}
    if isinstance(out.get("metadata"), dict):
        out["metadata"] = {k: v for k, v in out["metadata"].items()
                           if k not in HIDDEN_METADATA_KEYS}
    if availability_zone is not None and "OS-EXT-AZ:availability_zone" in out:
        out["OS-EXT-AZ:availability_zone"] = availability_zone
    return out


def flavor_to_global(flavor: dict[str, Any], regional_base: str,
                     cascade_base: str) -> dict[str, Any]:
    """Flavors keep their ids (matched across regions by id); only links change."""
    out = dict(flavor)
    if "links" in out:
        out["links"] = rewrite_links(out["links"], regional_base, cascade_base)
    return out
