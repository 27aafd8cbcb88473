"""Run packaging/reeldrop.spec without PyInstaller: its build classes and hook helpers are stand-ins that
record what the spec asks for, so a test can check the spec's decisions in a fraction of a second.

The stand-in Analysis returns a few binaries and data files of the kinds the real one collects (GTK
libraries, botocore models), so the spec's own filters run on them.
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "packaging" / "reeldrop.spec"

SAMPLE_BINARIES = [
    ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", "/site/libqgtk3.so", "BINARY"),
    ("libgtk-3.so.0", "/usr/lib/libgtk-3.so.0", "BINARY"),
    ("libcairo-gobject.so.2", "/usr/lib/libcairo-gobject.so.2", "BINARY"),
    ("libQt6Gui.so.6", "/site/libQt6Gui.so.6", "BINARY"),
    ("PySide6/Qt/plugins/platforms/libqxcb.so", "/site/libqxcb.so", "BINARY"),
    ("PySide6/Qt/plugins/platforms/libqoffscreen.so", "/site/libqoffscreen.so", "BINARY"),
    ("libglib-2.0.so.0", "/usr/lib/libglib-2.0.so.0", "BINARY"),
]
SAMPLE_DATAS = [
    ("botocore/data/ec2/2016-11-15/service-2.json.gz", "/site/ec2.json.gz", "DATA"),
    ("botocore/data/s3/2006-03-01/service-2.json.gz", "/site/s3.json.gz", "DATA"),
    ("botocore/data/endpoints.json", "/site/endpoints.json", "DATA"),
    ("imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v7", "/site/ffmpeg", "DATA"),
]


class FakeAnalysis:
    def __init__(self, scripts: list[str], **options: Any) -> None:
        self.script_paths = scripts
        self.options = options
        self.pure: list[Any] = []
        self.scripts = [(Path(s).stem, s, "PYSOURCE") for s in scripts]
        self.binaries = list(SAMPLE_BINARIES)
        self.datas = list(SAMPLE_DATAS) + [(dest + "/" + Path(src).name, src, "DATA") for src, dest in options["datas"]]


@dataclass
class FakeExe:
    args: tuple[Any, ...]
    options: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.options["name"])


@dataclass
class SpecRun:
    analyses: list[FakeAnalysis] = field(default_factory=list)
    exes: list[FakeExe] = field(default_factory=list)
    collects: list[tuple[tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)
    bundles: list[dict[str, Any]] = field(default_factory=list)
    namespace: dict[str, Any] = field(default_factory=dict)

    def exe(self, name: str) -> FakeExe:
        return next(exe for exe in self.exes if exe.name == name)

    def analysis(self, script: str) -> FakeAnalysis:
        return next(a for a in self.analyses if Path(a.script_paths[0]).name == script)


def _fake_pyinstaller(monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda package, filter=None: [f"{package}.collected_submodule"]  # type: ignore[attr-defined]
    hooks.collect_data_files = lambda package, includes=None, **_: [  # type: ignore[attr-defined]
        (f"/site/{package}/{pattern.split('/')[0]}/model.json", f"{package}/{pattern.split('/')[0]}")
        for pattern in includes or ["data"]
    ]
    hooks.copy_metadata = lambda dist: [(f"/site/{dist}.dist-info", f"{dist}.dist-info")]  # type: ignore[attr-defined]

    versioninfo = types.ModuleType("PyInstaller.utils.win32.versioninfo")
    for name in ("VSVersionInfo", "FixedFileInfo", "StringFileInfo", "StringTable", "StringStruct",
                 "VarFileInfo", "VarStruct"):  # fmt: skip
        setattr(versioninfo, name, _recording_class(name))

    modules = {
        "PyInstaller": types.ModuleType("PyInstaller"),
        "PyInstaller.utils": types.ModuleType("PyInstaller.utils"),
        "PyInstaller.utils.hooks": hooks,
        "PyInstaller.utils.win32": types.ModuleType("PyInstaller.utils.win32"),
        "PyInstaller.utils.win32.versioninfo": versioninfo,
    }
    modules["PyInstaller.utils.win32"].versioninfo = versioninfo  # type: ignore[attr-defined]
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)


def _recording_class(name: str) -> type:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    return type(name, (), {"__init__": __init__})


def run_spec(monkeypatch: pytest.MonkeyPatch, platform: str = "linux", build_gui: bool = True) -> SpecRun:
    """Execute the spec as PyInstaller would (same globals), on a pretended platform."""
    _fake_pyinstaller(monkeypatch)
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setenv("REELDROP_BUILD_GUI", "1" if build_gui else "0")
    run = SpecRun()

    def analysis(scripts: list[str], **options: Any) -> FakeAnalysis:
        made = FakeAnalysis(scripts, **options)
        run.analyses.append(made)
        return made

    def exe(*args: Any, **options: Any) -> FakeExe:
        made = FakeExe(args, options)
        run.exes.append(made)
        return made

    def collect(*args: Any, **options: Any) -> str:
        run.collects.append((args, options))
        return "COLLECT"

    def bundle(*args: Any, **options: Any) -> None:
        run.bundles.append(options)

    run.namespace = {
        "__name__": "__main__",
        "SPECPATH": str(SPEC.parent),
        "Analysis": analysis,
        "PYZ": lambda *args, **options: ("PYZ", args),
        "EXE": exe,
        "COLLECT": collect,
        "BUNDLE": bundle,
    }
    exec(compile(SPEC.read_text(), str(SPEC), "exec"), run.namespace)
    return run
