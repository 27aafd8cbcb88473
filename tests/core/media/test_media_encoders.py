from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.core.media import FfmpegTools, check_encoder, choose_encoder
from app.core.media.encoders import HARDWARE_ENCODERS, SOFTWARE_ENCODER, clear_encoder_cache


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_encoder_cache()
    yield
    clear_encoder_cache()


def test_every_hardware_candidate_is_really_tried_and_the_choice_follows(tools: FfmpegTools) -> None:
    choice = choose_encoder(tools)
    tried = [check.name for check in choice.checks]
    working = [check for check in choice.checks if check.works]
    if choice.hardware:  # a machine with a working GPU encoder: the first that worked is used
        assert choice.name == working[0].name and choice.name in HARDWARE_ENCODERS
        return
    # Here (no GPU, no VA device, no Apple) none works: every one was test-encoded, then libx264.
    assert set(HARDWARE_ENCODERS) <= set(tried) and tried[-1] == SOFTWARE_ENCODER
    assert choice.name == SOFTWARE_ENCODER and choice.checks[-1].works
    for check in choice.checks[:-1]:
        assert not check.works
        assert check.reason  # ffmpeg's own words, e.g. "Cannot load libcuda.so.1"
        assert check.argv[0] == tools.ffmpeg and check.argv[check.argv.index("-c:v") + 1] == check.name
    assert "software" in choice.describe()


def test_the_check_runs_a_real_encode(tools: FfmpegTools) -> None:
    works = check_encoder(SOFTWARE_ENCODER, tools)
    assert works.works and works.reason == ""
    missing = check_encoder("h264_reeldrop_imaginary", tools)
    assert not missing.works
    assert "h264_reeldrop_imaginary" in missing.reason  # ffmpeg: "Unknown encoder '...'"


def test_an_unknown_candidate_falls_back_to_libx264(tools: FfmpegTools) -> None:
    choice = choose_encoder(tools, candidates=["h264_reeldrop_imaginary"])
    assert (choice.name, choice.hardware) == (SOFTWARE_ENCODER, False)
    assert [check.name for check in choice.checks] == ["h264_reeldrop_imaginary", SOFTWARE_ENCODER]


def test_results_are_cached_per_ffmpeg(tools: FfmpegTools, bundled_tools: FfmpegTools) -> None:
    first = check_encoder("h264_nvenc", tools)
    assert check_encoder("h264_nvenc", tools) is first
    assert check_encoder("h264_nvenc", tools, refresh=True) is not first
    other = check_encoder("h264_nvenc", bundled_tools)
    assert other is not first and other.argv[0] == bundled_tools.ffmpeg


def test_hardware_can_be_switched_off(tools: FfmpegTools) -> None:
    choice = choose_encoder(tools, allow_hardware=False)
    assert choice.name == SOFTWARE_ENCODER
    assert [check.name for check in choice.checks] == [SOFTWARE_ENCODER]
