from __future__ import annotations

import pytest

from app.core.transfer.planning import (
    DEFAULT_PART_SIZE,
    MAX_OBJECT_SIZE,
    MAX_PART_SIZE,
    MAX_PARTS,
    MIN_PART_SIZE,
    MiB,
    PlanningError,
    TiB,
    choose_part_size,
    plan_parts,
    split,
)


def assert_valid(plan, size):
    assert plan.part_count <= MAX_PARTS
    assert [part.number for part in plan.parts] == list(range(1, plan.part_count + 1))
    offset = 0
    for part in plan.parts:
        assert part.offset == offset
        assert 0 < part.length <= MAX_PART_SIZE
        if part is not plan.parts[-1]:
            assert part.length >= MIN_PART_SIZE
            assert part.length == plan.part_size
        offset = part.end
    assert offset == size


def test_five_tib_plans_at_most_ten_thousand_parts_within_limits():
    size = 5 * TiB
    plan = plan_parts(size)
    assert_valid(plan, size)
    assert plan.part_size % MiB == 0
    assert plan.part_size >= -(-size // MAX_PARTS)
    assert plan.part_size == 525 * MiB  # ceil(5 TiB / 10,000) = 524.29 MiB, rounded up to a MiB
    assert plan.part_count == 9987


def test_five_tib_minus_one_byte_and_a_tiny_preference_still_fit():
    size = 5 * TiB - 1
    plan = plan_parts(size, preferred_part_size=1)
    assert_valid(plan, size)


def test_exactly_five_mib_is_one_part():
    plan = plan_parts(5 * MiB, preferred_part_size=5 * MiB)
    assert plan.part_size == 5 * MiB
    assert [(p.number, p.offset, p.length) for p in plan.parts] == [(1, 0, 5 * MiB)]


def test_one_byte_over_a_part_boundary_adds_a_one_byte_part():
    plan = plan_parts(10 * MiB + 1, preferred_part_size=5 * MiB)
    assert [(p.number, p.offset, p.length) for p in plan.parts] == [
        (1, 0, 5 * MiB),
        (2, 5 * MiB, 5 * MiB),
        (3, 10 * MiB, 1),
    ]


def test_one_byte_over_the_ten_thousand_part_limit_grows_the_part_size():
    size = MAX_PARTS * 5 * MiB + 1
    plan = plan_parts(size, preferred_part_size=5 * MiB)
    assert plan.part_size == 6 * MiB
    assert_valid(plan, size)
    # ...while exactly at the limit, 5 MiB parts fill all 10,000 numbers.
    exact = plan_parts(MAX_PARTS * 5 * MiB, preferred_part_size=5 * MiB)
    assert (exact.part_size, exact.part_count) == (5 * MiB, MAX_PARTS)


def test_small_file_is_a_single_short_part():
    plan = plan_parts(1)
    assert plan.part_size == DEFAULT_PART_SIZE
    assert [(p.number, p.offset, p.length) for p in plan.parts] == [(1, 0, 1)]


def test_preferred_size_is_clamped_and_rounded_to_mib():
    assert choose_part_size(100 * MiB, 1) == MIN_PART_SIZE
    assert choose_part_size(100 * MiB, 7 * MiB + 1) == 8 * MiB
    assert choose_part_size(100 * MiB, 6 * 1024 * MiB) == MAX_PART_SIZE


@pytest.mark.parametrize("size", [0, -1])
def test_empty_or_negative_size_is_refused(size):
    with pytest.raises(PlanningError, match="empty"):
        plan_parts(size)


def test_object_over_five_tib_is_refused():
    with pytest.raises(PlanningError, match="5 TiB"):
        plan_parts(MAX_OBJECT_SIZE + 1)


def test_split_keeps_a_server_chosen_part_size_exactly():
    plan = split(20 * MiB + 3, 5 * MiB + 1)  # not a whole MiB: the server chose it, we keep it
    assert plan.part_size == 5 * MiB + 1
    assert_valid(plan, 20 * MiB + 3)
    assert plan.part(plan.part_count).end == 20 * MiB + 3


@pytest.mark.parametrize(
    ("size", "part_size", "message"),
    [
        (100 * MiB, 5 * MiB - 1, "outside"),
        (100 * MiB, MAX_PART_SIZE + 1, "outside"),
        (MAX_PARTS * 5 * MiB + 1, 5 * MiB, "10001 parts; S3 allows 10000"),
    ],
)
def test_split_rejects_part_sizes_s3_would_refuse(size, part_size, message):
    with pytest.raises(PlanningError, match=message):
        split(size, part_size)


def test_part_lookup_is_by_s3_number():
    plan = plan_parts(12 * MiB, preferred_part_size=5 * MiB)
    assert plan.part(3).offset == 10 * MiB
    with pytest.raises(KeyError):
        plan.part(0)
