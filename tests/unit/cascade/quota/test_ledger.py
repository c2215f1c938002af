"""The quota ledger on SQLite and PostgreSQL: admission never overshoots, every path
(commit, release, expiry, charge, give back, removal) keeps usage exact, and recount
repairs a ledger that drifted."""
from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cascade import config, errors
from cascade.db.models import Region, Reservation
from cascade.quota import ledger, resources
from cascade.mapping import store
from cascade.quota.forget import forget

Sessions = async_sessionmaker[AsyncSession]

DEFAULTS = resources.defaults(config.load([]))
P = "proj-1"


@pytest.fixture
def sessions(db_sessions: Sessions) -> Sessions:
    return db_sessions


async def _usage(sessions: Sessions, project: str = P) -> dict[str, tuple[int, int]]:
    async with sessions() as s:
        return {k: v for k, v in (await ledger.usage(s, project)).items() if v != (0, 0)}


async def _reserve(sessions: Sessions, deltas: dict[str, int], project: str = P,
                   ttl: float = 60) -> str:
    async with sessions.begin() as s:
        return await ledger.reserve(s, project, deltas, ttl=ttl, defaults=DEFAULTS)


async def _set(sessions: Sessions, values: dict[str, int], project: str = P) -> None:
    async with sessions.begin() as s:
        await ledger.set_limits(s, project, values)


async def test_reserve_then_commit_moves_reserved_into_in_use_once(sessions: Sessions) -> None:
    rid = await _reserve(sessions, {"instances": 1, "cores": 2, "ram": 512})
    assert await _usage(sessions) == {"instances": (0, 1), "cores": (0, 2), "ram": (0, 512)}
    async with sessions.begin() as s:
        assert await ledger.commit(s, rid) is True
    async with sessions.begin() as s:
        assert await ledger.commit(s, rid) is False, "a second commit counts nothing"
        assert await ledger.release(s, rid) is False, "nor does a release after commit"
    assert await _usage(sessions) == {"instances": (1, 0), "cores": (2, 0), "ram": (512, 0)}


async def test_release_gives_the_reservation_back_once(sessions: Sessions) -> None:
    rid = await _reserve(sessions, {"instances": 2})
    for expected in (True, False):
        async with sessions.begin() as s:
            assert await ledger.release(s, rid) is expected
    assert await _usage(sessions) == {}
    async with sessions() as s:
        assert (await s.scalars(select(Reservation))).all() == []


async def test_over_quota_names_the_resource_and_holds_nothing(sessions: Sessions) -> None:
    await _set(sessions, {"instances": 2})
    async with sessions.begin() as s:
        await ledger.charge(s, P, {"instances": 1}, defaults=DEFAULTS)
    await _reserve(sessions, {"instances": 1})
    with pytest.raises(errors.OverQuota) as info:
        await _reserve(sessions, {"instances": 1, "cores": 1})
    err = info.value
    assert (err.resources, err.requested, err.used, err.limits) == (
        ["instances"], {"instances": 1}, {"instances": 2}, {"instances": 2})
    assert err.status == 403
    assert err.message == ("Quota exceeded for instances: Requested 1, but already used "
                           "2 of 2 instances")
    assert await _usage(sessions) == {"instances": (1, 1)}, "cores taken then given back"
    async with sessions() as s:
        assert len((await s.scalars(select(Reservation))).all()) == 1


async def test_every_resource_over_is_named(sessions: Sessions) -> None:
    await _set(sessions, {"cores": 1, "ram": 100})
    with pytest.raises(errors.OverQuota) as info:
        await _reserve(sessions, {"instances": 1, "cores": 2, "ram": 512})
    assert info.value.resources == ["cores", "ram"]
    assert info.value.message == ("Quota exceeded for cores, ram: Requested 2, 512, but "
                                  "already used 0, 0 of 1, 100 cores, ram")
    assert await _usage(sessions) == {}


async def test_over_quota_renders_in_each_services_format() -> None:
    err = errors.OverQuota(["network"], {"network": 1}, {"network": 3}, {"network": 3})
    assert err.fault("network") == (409, "Quota exceeded for resources: ['network'].",
                                    "OverQuota")
    assert err.fault("compute") == (403, err.message, None)
    custom = errors.OverQuota(["key_pairs"], {"key_pairs": 1}, {"key_pairs": 1},
                              {"key_pairs": 1}, message="Quota exceeded, too many key pairs.")
    assert custom.fault("compute")[1] == "Quota exceeded, too many key pairs."


async def test_unlimited_and_zero_limits(sessions: Sessions) -> None:
    await _set(sessions, {"instances": -1, "cores": 0})
    await _reserve(sessions, {"instances": 10_000})
    with pytest.raises(errors.OverQuota):
        await _reserve(sessions, {"cores": 1})
    await _reserve(sessions, {"cores": 0})  # nothing asked, nothing refused


async def test_project_limits_override_defaults_until_deleted(sessions: Sessions) -> None:
    await _set(sessions, {"instances": 3, "metadata_items": -1})
    async with sessions() as s:
        lims = await ledger.limits(s, P, DEFAULTS)
        assert (lims["instances"], lims["metadata_items"], lims["cores"]) == (3, -1, 20)
        assert (await ledger.limits(s, "other", DEFAULTS))["instances"] == 10
        assert await ledger.custom_projects(s) == {P: {"instances": 3, "metadata_items": -1}}
    async with sessions.begin() as s:
        await ledger.delete_limits(s, P)
    async with sessions() as s:
        assert (await ledger.limits(s, P, DEFAULTS))["instances"] == 10
    with pytest.raises(ValueError):
        async with sessions.begin() as s:
            await ledger.set_limits(s, P, {"instances": -2})
    with pytest.raises(ValueError):
        async with sessions.begin() as s:
            await ledger.set_limits(s, P, {"bogus": 1})


async def test_charge_is_guarded_and_give_back_stops_at_zero(sessions: Sessions) -> None:
    await _set(sessions, {"key_pairs": 1})
    async with sessions.begin() as s:
        await ledger.charge(s, P, {"key_pairs": 1}, defaults=DEFAULTS)
    with pytest.raises(errors.OverQuota):
        async with sessions.begin() as s:
            await ledger.charge(s, P, {"key_pairs": 1}, defaults=DEFAULTS)
    async with sessions.begin() as s:
        await ledger.charge(s, P, {"key_pairs": 1}, defaults=DEFAULTS, check=False)
    assert await _usage(sessions) == {"key_pairs": (2, 0)}
    async with sessions.begin() as s:
        await ledger.give_back(s, P, {"key_pairs": 5, "not_counted": 1})
    assert await _usage(sessions) == {}


async def test_resources_outside_the_ledger_are_refused(sessions: Sessions) -> None:
    async with sessions.begin() as s:
        with pytest.raises(ValueError):
            await ledger.reserve(s, P, {"metadata_items": 1}, ttl=1, defaults=DEFAULTS)
        with pytest.raises(ValueError):
            await ledger.reserve(s, P, {"instances": -1}, ttl=1, defaults=DEFAULTS)


async def test_expiry_releases_a_dead_owners_reservation_only(sessions: Sessions) -> None:
    dead = await _reserve(sessions, {"instances": 1, "ram": 64}, ttl=0.001)
    alive = await _reserve(sessions, {"instances": 1}, ttl=3600)
    await asyncio.sleep(0.01)
    async with sessions.begin() as s:
        assert await ledger.expire(s) == 1
    assert await _usage(sessions) == {"instances": (0, 1)}
    async with sessions.begin() as s:
        assert await ledger.commit(s, dead) is False, "the dead owner's late commit is a no-op"
        assert await ledger.commit(s, alive) is True
    assert await _usage(sessions) == {"instances": (1, 0)}
    async with sessions.begin() as s:
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
        assert await ledger.expire(s, later) == 0


async def _add_region(sessions: Sessions) -> None:
    async with sessions.begin() as s:
        s.add(Region(name="R1", availability_zone="R1"))


async def test_removing_a_resource_gives_its_usage_back_once(sessions: Sessions) -> None:
    await _add_region(sessions)
    rid = await _reserve(sessions, {"instances": 1, "cores": 4})
    async with sessions.begin() as s:
        store.create_resource(s, global_id="g1", type_="server", project_id=P, user_id="u",
                              region="R1", spec={}, attrs={}, status="BUILD",
                              usage={"instances": 1, "cores": 4})
        assert await ledger.commit(s, rid)
    assert await _usage(sessions) == {"instances": (1, 0), "cores": (4, 0)}
    for _ in range(2):
        async with sessions.begin() as s:
            await forget(s, "g1")
    assert await _usage(sessions) == {}


async def test_recount_repairs_drift_from_resources_and_reservations(
        sessions: Sessions) -> None:
    await _add_region(sessions)
    async with sessions.begin() as s:
        for i in range(3):
            store.create_resource(s, global_id=f"g{i}", type_="server", project_id=P,
                                  user_id="u", region="R1", spec={}, attrs={},
                                  status="ACTIVE", usage={"instances": 1, "ram": 256})
        store.create_resource(s, global_id="n1", type_="network", project_id="p2",
                              user_id="u", region="R1", spec={}, attrs={}, status="ACTIVE",
                              usage={"network": 1})
        await ledger.charge(s, P, {"instances": 7, "cores": 2}, defaults=DEFAULTS,
                            check=False)
    await _reserve(sessions, {"ram": 128})
    async with sessions.begin() as s:
        fixes = await ledger.recount(s)
    assert sorted((f.project_id, f.resource, f.field, f.old, f.new) for f in fixes) == sorted([
        (P, "cores", "in_use", 2, 0), (P, "instances", "in_use", 7, 3),
        (P, "ram", "in_use", 0, 768), ("p2", "network", "in_use", 0, 1)])
    assert await _usage(sessions) == {"instances": (3, 0), "ram": (768, 128)}
    async with sessions.begin() as s:
        assert await ledger.recount(s, P) == [], "an exact ledger needs no correction"
        assert await ledger.projects(s) == sorted([P, "p2"])


async def test_concurrent_reservations_never_overshoot(sessions: Sessions) -> None:
    await _set(sessions, {"instances": 7})

    async def attempt() -> bool:
        try:
            rid = await _reserve(sessions, {"instances": 1, "cores": 1})
        except errors.OverQuota:
            return False
        async with sessions.begin() as s:
            await ledger.commit(s, rid)
        return True

    results = await asyncio.gather(*(attempt() for _ in range(25)))
    assert sum(results) == 7
    assert await _usage(sessions) == {"instances": (7, 0), "cores": (7, 0)}


async def _raw(sessions: Sessions, name: str, project: str = P) -> tuple[int, int]:
    """The usage row as stored (without committed reservations not folded yet)."""
    from cascade.db.models import QuotaUsage

    async with sessions() as s:
        row = (await s.execute(select(QuotaUsage.in_use, QuotaUsage.reserved).where(
            QuotaUsage.project_id == project, QuotaUsage.resource == name))).one()
    return int(row[0]), int(row[1])


async def test_a_commit_counts_at_once_and_a_fold_moves_it_into_the_usage_row(
        sessions: Sessions) -> None:
    rid = await _reserve(sessions, {"instances": 1, "cores": 2})
    async with sessions.begin() as s:
        assert await ledger.commit(s, rid)
    assert await _usage(sessions) == {"instances": (1, 0), "cores": (2, 0)}
    assert await _raw(sessions, "instances") == (0, 1), "the commit took no usage row"
    async with sessions.begin() as s:
        assert await ledger.fold(s, P) == {"instances": 1, "cores": 2}
        assert await ledger.fold(s, P) == {}, "a reservation is folded once"
    assert await _raw(sessions, "instances") == (1, 0)
    assert await _usage(sessions) == {"instances": (1, 0), "cores": (2, 0)}
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Reservation)) == 0


async def test_a_committed_reservation_never_expires_nor_is_released(
        sessions: Sessions) -> None:
    await _set(sessions, {"instances": 1})
    rid = await _reserve(sessions, {"instances": 1}, ttl=0.001)
    async with sessions.begin() as s:
        assert await ledger.commit(s, rid)
    await asyncio.sleep(0.01)
    async with sessions.begin() as s:
        assert await ledger.expired(s) == []
        assert await ledger.expire(s) == 0
        assert await ledger.release(s, rid) is False
    assert await _usage(sessions) == {"instances": (1, 0)}
    with pytest.raises(errors.OverQuota):
        await _reserve(sessions, {"instances": 1})


async def test_giving_back_a_resource_not_folded_yet_leaves_zero(sessions: Sessions) -> None:
    # Stored in_use is 0 until the fold; subtracting first would stop at 0 and the
    # later fold would then count a deleted server.
    rid = await _reserve(sessions, {"instances": 1, "ram": 64})
    async with sessions.begin() as s:
        assert await ledger.commit(s, rid)
        await ledger.give_back(s, P, {"instances": 1, "ram": 64})
    assert await _usage(sessions) == {}
    async with sessions.begin() as s:
        await ledger.fold(s, P)
    assert await _usage(sessions) == {}


async def test_recount_folds_without_calling_the_commits_corrections(
        sessions: Sessions) -> None:
    await _add_region(sessions)
    for i in range(3):
        rid = await _reserve(sessions, {"instances": 1})
        async with sessions.begin() as s:
            store.create_resource(s, global_id=f"g{i}", type_="server", project_id=P,
                                  user_id="u", region="R1", spec={}, attrs={},
                                  status="ACTIVE", usage={"instances": 1})
            assert await ledger.commit(s, rid)
    held = await _reserve(sessions, {"instances": 1})
    async with sessions.begin() as s:
        assert await ledger.recount(s, P) == []
    assert await _raw(sessions, "instances") == (3, 1)
    assert await _usage(sessions) == {"instances": (3, 1)}
    async with sessions.begin() as s:
        assert await ledger.release(s, held)


async def test_reserve_many_admits_each_request_as_if_alone_in_turn(
        sessions: Sessions) -> None:
    await _set(sessions, {"instances": 5})
    requests = [ledger.Request({"instances": 1}, 2), ledger.Request({"instances": 1}, 4),
                ledger.Request({"instances": 1}, 3), ledger.Request({"instances": 1}, 1)]
    async with sessions.begin() as s:
        outcomes = await ledger.reserve_many(s, P, requests, ttl=60, defaults=DEFAULTS)
    assert [len(o) if isinstance(o, list) else None for o in outcomes] == [2, None, 3, None]
    refused = outcomes[1]
    assert isinstance(refused, errors.OverQuota)
    assert (refused.requested, refused.used, refused.limits) == (
        {"instances": 4}, {"instances": 2}, {"instances": 5}), "a multi-create asks for all"
    assert await _usage(sessions) == {"instances": (0, 5)}
    async with sessions.begin() as s:
        together = await ledger.reserve_many(
            s, "p2", [ledger.Request({"cores": 1}), ledger.Request({"cores": 2}, 3)],
            ttl=60, defaults=DEFAULTS)
    assert [len(o) for o in together if isinstance(o, list)] == [1, 3]
    assert await _usage(sessions, "p2") == {"cores": (0, 7)}
