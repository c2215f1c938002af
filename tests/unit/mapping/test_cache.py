"""The in-process mapping cache: lookups both ways, eviction, staleness, bounds."""
from cascade.mapping.cache import Mapping, MappingCache


def _m(i: int) -> Mapping:
    return Mapping(f"g{i}", "p", "R1", f"l{i}")


def test_lookup_both_ways_and_forget() -> None:
    cache = MappingCache(size=10)
    cache.put(_m(1))
    assert cache.get("g1") == _m(1) and cache.by_local("R1", "l1") == _m(1)
    cache.forget("g1")
    assert cache.get("g1") is None and cache.by_local("R1", "l1") is None


def test_least_recently_used_goes_first() -> None:
    cache = MappingCache(size=2)
    cache.put(_m(1))
    cache.put(_m(2))
    cache.get("g1")
    cache.put(_m(3))
    assert cache.get("g2") is None and cache.by_local("R1", "l2") is None
    assert cache.get("g1") is not None and cache.get("g3") is not None


def test_a_view_is_stale_only_when_a_watched_field_changes() -> None:
    cache = MappingCache()
    view = {"status": "ACTIVE", "name": "a", "links": []}
    assert cache.stale("g", view)
    assert not cache.stale("g", {**view, "links": [{"href": "x"}]})
    assert cache.stale("g", {**view, "status": "SHUTOFF"})


def test_digests_stay_bounded() -> None:
    cache = MappingCache(size=5)
    for i in range(100):
        cache.stale(f"g{i}", {"status": "ACTIVE"})
    assert len(cache._digests) <= 10


def test_a_fingerprint_worked_out_once_is_compared_later() -> None:
    cache = MappingCache()
    view = {"status": "ACTIVE", "name": "a", "links": []}
    digest = cache.digest_of(view)
    assert cache.changed("g", digest), "never seen: changed"
    cache.remember("g", digest)
    assert not cache.changed("g", digest) and not cache.stale("g", view)
    assert cache.changed("g", cache.digest_of({**view, "status": "SHUTOFF"}))
    assert not cache.changed("g", cache.digest_of({**view, "links": [1]})), "not watched"
