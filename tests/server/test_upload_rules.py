"""Part planning and input rules, without a server."""

from __future__ import annotations

import pytest

from app.server import upload_rules as rules
from app.server.errors import ApiError

MIB = 1024 * 1024


@pytest.mark.parametrize("size", [1, 5 * MIB, 5 * MIB + 1, 100 * MIB, 50 * 1024**3, 5 * 1024**4 - 1, 5 * 1024**4])
def test_planned_parts_fit_s3_limits(size: int) -> None:
    part = rules.choose_part_size(size)
    count = rules.part_count(size, part)
    assert rules.S3_MIN_PART <= part <= rules.S3_MAX_PART
    assert part % MIB == 0
    assert 1 <= count <= 10_000
    assert part * count >= size


@pytest.mark.parametrize("name", ["../x.mp4", "a/b.mp4", "a\\b.mp4", "C:x.mp4", "..", "bad\nname.mp4", "", "  "])
def test_filenames_with_paths_or_control_characters_are_refused(name: str) -> None:
    with pytest.raises(ApiError) as err:
        rules.check_filename(name)
    assert err.value.status == 400 and err.value.code == "invalid_filename"


def test_key_safe_names_keep_the_extension() -> None:
    assert rules.key_safe_name("Été à Paris (final).MP4") == "Ete_a_Paris_final.MP4"
    assert rules.key_safe_name("...") == "file"


@pytest.mark.parametrize(
    ("declared", "name", "expected"),
    [("video/mp4", "a.mp4", "video/mp4"), (None, "a.mkv", "video/x-matroska"), ("", "a.mp3", "audio/mpeg")],
)
def test_media_types_are_resolved(declared: str | None, name: str, expected: str) -> None:
    assert rules.resolve_media_type(declared, name) == expected


@pytest.mark.parametrize(
    ("declared", "name"), [("application/x-msdownload", "a.mp4"), (None, "a.exe"), ("text/html", "a")]
)
def test_other_media_types_are_refused(declared: str | None, name: str) -> None:
    with pytest.raises(ApiError) as err:
        rules.resolve_media_type(declared, name)
    assert err.value.status == 415
