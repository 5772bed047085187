"""Region classes between two places, with the shipped remote areas."""

import pytest

from tracker.sla import Place, RegionClass, RemoteAreas, region_class


@pytest.mark.parametrize(
    ("origin", "destination", "expected"),
    [
        (Place("CN-31", "Shanghai"), Place("CN-31", " shanghai "), RegionClass.SAME_CITY),
        (Place("CN-32", "Nanjing"), Place("CN-32", "Suzhou"), RegionClass.SAME_PROVINCE),
        (Place("CN-31", "Shanghai"), Place("CN-33", "Hangzhou"), RegionClass.CROSS_PROVINCE),
        (Place("CN-31", "Shanghai"), Place("CN-54", "Lhasa"), RegionClass.REMOTE),
        (Place("CN-65", "Ürümqi"), Place("CN-31", "Shanghai"), RegionClass.REMOTE),
        (Place("CN-65", "Ürümqi"), Place("CN-65", "Kashgar"), RegionClass.REMOTE),
        (Place("CN-54", "Lhasa"), Place("CN-54", "Lhasa"), RegionClass.SAME_CITY),
        (Place("CN-51", "Chengdu"), Place("CN-51", "garzê"), RegionClass.REMOTE),
        (Place("CN-51", "510100"), Place("CN-51", "513300"), RegionClass.REMOTE),
        (Place("CN-51", "Chengdu"), Place("CN-51", "Mianyang"), RegionClass.SAME_PROVINCE),
        (Place("cn-63", "Xining"), Place("CN-31", "Shanghai"), RegionClass.REMOTE),
    ],
)
def test_it_classifies_a_journey_with_the_shipped_remote_areas(levels, origin, destination, expected):
    assert levels.region_class(origin, destination) is expected
    assert levels["standard"].region_class(origin, destination) is expected


def test_it_takes_remote_areas_as_configured():
    remote = RemoteAreas.of(["CN-46"], ["Mohe"])
    hainan, mohe, shanghai = Place("CN-46", "Haikou"), Place("CN-23", "Mohe"), Place("CN-31", "Shanghai")
    assert region_class(shanghai, hainan, remote=remote) is RegionClass.REMOTE
    assert region_class(shanghai, mohe, remote=remote) is RegionClass.REMOTE
    assert region_class(shanghai, Place("CN-54", "Lhasa"), remote=remote) is RegionClass.CROSS_PROVINCE
