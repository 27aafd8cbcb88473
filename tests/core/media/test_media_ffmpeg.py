from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.media import FfmpegNotFound, FfmpegTools, find_ffmpeg
from app.core.media.ffmpeg import clear_ffmpeg_cache, tool_version


@pytest.fixture(autouse=True)
def _fresh_discovery(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("REELDROP_FFMPEG", raising=False)
    monkeypatch.delenv("REELDROP_FFPROBE", raising=False)
    clear_ffmpeg_cache()
    yield
    clear_ffmpeg_cache()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="no system ffmpeg on PATH")
def test_system_ffmpeg_and_ffprobe_are_preferred() -> None:
    tools = find_ffmpeg()
    assert tools.source == "system"
    assert Path(tools.ffmpeg) == Path(shutil.which("ffmpeg") or "")
    if shutil.which("ffprobe"):
        assert tools.ffprobe is not None and tool_version(tools.ffprobe)
    assert tools.version and tools.version == tool_version(tools.ffmpeg)


def test_bundled_ffmpeg_is_the_fallback_and_has_no_ffprobe() -> None:
    tools = find_ffmpeg(allow_system=False)
    assert tools.source == "bundled"
    assert "imageio_ffmpeg" in tools.ffmpeg
    assert tools.ffprobe is None
    assert tool_version(tools.ffmpeg) == tools.version


def test_env_override_wins(monkeypatch: pytest.MonkeyPatch, bundled_tools: FfmpegTools) -> None:
    monkeypatch.setenv("REELDROP_FFMPEG", bundled_tools.ffmpeg)
    monkeypatch.setenv("REELDROP_FFPROBE", "none")
    tools = find_ffmpeg()
    assert tools == FfmpegTools(bundled_tools.ffmpeg, None, bundled_tools.version, "env")


def test_broken_env_override_is_an_error_not_a_silent_fallback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REELDROP_FFMPEG", str(tmp_path / "no-such-ffmpeg"))
    with pytest.raises(FfmpegNotFound, match="REELDROP_FFMPEG") as caught:
        find_ffmpeg()
    assert caught.value.error_type == "ffmpeg_missing"


def test_an_executable_that_is_not_ffmpeg_is_rejected(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    impostor = tmp_path / "ffmpeg"
    impostor.write_text("#!/bin/sh\necho hello\n")
    impostor.chmod(0o755)
    monkeypatch.setenv("REELDROP_FFMPEG", str(impostor))
    with pytest.raises(FfmpegNotFound, match="does not look like ffmpeg"):
        find_ffmpeg()


def test_nothing_found_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    # imageio-ffmpeg trusts this variable blindly; point it at nothing to hide the bundled binary.
    monkeypatch.setenv("IMAGEIO_FFMPEG_EXE", str(tmp_path / "missing-ffmpeg"))
    with pytest.raises(FfmpegNotFound) as caught:
        find_ffmpeg()
    message = str(caught.value)
    assert "ffmpeg not found" in message
    assert "REELDROP_FFMPEG" in message and "no ffmpeg on PATH" in message
