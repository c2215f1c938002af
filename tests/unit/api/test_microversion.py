"""The advertised compute range is what every enabled region supports."""
from cascade.api.compute.microversion import supported_range
from cascade.regions.registry import RegionInfo, RegionRegistry


def _region(name: str, low: str, high: str, enabled: bool = True) -> RegionInfo:
    return RegionInfo(name=name, availability_zone=name, enabled=enabled,
                      capabilities={"compute": {"min_version": low, "max_version": high}})


def test_range_is_highest_min_to_lowest_max_of_enabled_regions() -> None:
    reg = RegionRegistry([_region("a", "2.1", "2.104"), _region("b", "2.1", "2.96"),
                          _region("c", "2.1", "2.60", enabled=False)])
    assert supported_range(reg) == ("2.1", "2.96")


def test_no_known_region_falls_back_to_the_floor() -> None:
    assert supported_range(RegionRegistry()) == ("2.1", "2.1")
