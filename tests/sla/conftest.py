"""Fixtures for the SLA tests: the shipped service levels and a few places."""

import pytest

from tracker.sla import Place, ServiceLevels, load_service_levels


@pytest.fixture(scope="session")
def levels() -> ServiceLevels:
    return load_service_levels(None)


@pytest.fixture
def shanghai() -> Place:
    return Place("CN-31", "Shanghai")


@pytest.fixture
def hangzhou() -> Place:
    return Place("CN-33", "Hangzhou")


@pytest.fixture
def lhasa() -> Place:
    return Place("CN-54", "Lhasa")
