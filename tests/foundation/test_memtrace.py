"""The memory census a soak leaves on (camsvc/memtrace.py): what it reports, and that looking changes nothing."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from camsvc import memtrace


class Holder:
    pass


class Held:
    pass


@pytest.fixture
def frozen() -> Iterator[None]:
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def test_a_census_counts_unfrozen_objects_by_type_and_leaves_the_freeze_alone(frozen: None) -> None:
    kept = [Held() for _ in range(7)]
    before = gc.get_freeze_count()
    sample = memtrace.census()
    assert gc.get_freeze_count() == before  # nothing thawed, nothing newly frozen (garbage included)
    assert sample["types"]["Held"] == 7 and sample["gc_frozen"] == before
    assert sample["rss_mb"] > 0 and sample["pymalloc_blocks"] > 0
    assert {"malloc_in_use_mb", "malloc_free_mb", "sqlite_mb"} <= sample.keys()  # glibc and SQLite here
    del kept


def test_holders_name_what_refers_to_the_newest_objects_of_a_type() -> None:
    holder = Holder()
    holder.__dict__["thing"] = Held()
    assert ["Held", "Holder.__dict__", "Holder"] in [chain[:3] for chain in memtrace.holders("Held")]
