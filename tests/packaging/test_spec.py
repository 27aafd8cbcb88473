"""packaging/reeldrop.spec: one folder, a console CLI and a windowed GUI, and everything a frozen app
cannot discover by itself (keyring back ends, uvicorn's by-name imports, the resources)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from app import __version__
from tests.packaging.spec_harness import ROOT, SPEC, run_spec


def test_the_spec_is_valid_python() -> None:
    compile(SPEC.read_text(), str(SPEC), "exec")


def test_one_folder_holds_a_console_cli_and_a_windowed_gui(monkeypatch: pytest.MonkeyPatch) -> None:
    run = run_spec(monkeypatch)
    assert {exe.name: exe.options["console"] for exe in run.exes} == {"reeldrop": True, "reeldrop-gui": False}
    assert len(run.collects) == 1
    collected, options = run.collects[0]
    assert options["name"] == "reeldrop"
    assert {obj.name for obj in collected if hasattr(obj, "name")} == {"reeldrop", "reeldrop-gui"}
    # Each executable's own libraries and data go into the shared folder.
    for analysis in run.analyses:
        assert analysis.binaries in collected and analysis.datas in collected
        assert analysis.options["noarchive"] is True  # modules shared on disk, not a copy per executable
    assert run.bundles == []  # the .app is macOS only


def test_without_the_gui_only_the_cli_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    run = run_spec(monkeypatch, build_gui=False)
    assert [exe.name for exe in run.exes] == ["reeldrop"]
    assert [Path(a.script_paths[0]).name for a in run.analyses] == ["reeldrop_cli.py"]


def test_the_cli_carries_no_qt(monkeypatch: pytest.MonkeyPatch) -> None:
    cli = run_spec(monkeypatch).analysis("reeldrop_cli.py")
    assert {"PySide6", "shiboken6"} <= set(cli.options["excludes"])


def test_dynamic_imports_are_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    run = run_spec(monkeypatch)
    for analysis in run.analyses:
        hidden = set(analysis.options["hiddenimports"])
        assert {
            "app.resources",
            "keyring.backends.SecretService",
            "keyring.backends.macOS",
            "keyring.backends.Windows",
            "keyring.backends.chainer",
            "uvicorn.loops.auto",
            "uvicorn.protocols.http.auto",
            "uvicorn.lifespan.on",
            "h11",
            "sqlalchemy.dialects.sqlite",
            "secretstorage.collected_submodule",
        } <= hidden
        assert not {name for name in hidden if name.split(".")[0] in ("moto", "flask", "werkzeug")}
        assert str(ROOT / "packaging" / "hooks") in analysis.options["hookspath"]


def test_resources_land_where_importlib_resources_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    datas = run_spec(monkeypatch).analyses[0].options["datas"]
    assert (str(ROOT / "resources" / "presets.json"), "app/resources") in datas
    assert (str(ROOT / "resources" / "icons" / "reeldrop.svg"), "app/resources/icons") in datas
    assert not any(dest.startswith("moto") for _, dest in datas)
    migration = ROOT / "app" / "server" / "migrations" / "versions" / "0001_first_release.py"
    assert (str(migration), "app/server/migrations/versions") in datas  # Alembic reads them as files


def test_the_tests_s3_double_is_never_shipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto is installed wherever the tests run; the package must not carry it (the product's store is a folder)."""
    excludes = set(run_spec(monkeypatch).analyses[0].options["excludes"])
    assert {"moto", "flask", "werkzeug", "keyrings.alt", "tkinter", "pytest"} <= excludes


def test_gtk_and_unused_botocore_models_are_filtered_out(monkeypatch: pytest.MonkeyPatch) -> None:
    analysis = run_spec(monkeypatch).analyses[0]
    kept_binaries = {dest for dest, _, _ in analysis.binaries}
    assert kept_binaries == {
        "libQt6Gui.so.6",
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "libglib-2.0.so.0",
    }
    kept_datas = {dest for dest, _, _ in analysis.datas}
    assert "botocore/data/ec2/2016-11-15/service-2.json.gz" not in kept_datas
    assert "botocore/data/s3/2006-03-01/service-2.json.gz" in kept_datas
    assert "botocore/data/endpoints.json" in kept_datas
    assert "imageio_ffmpeg/binaries/ffmpeg-linux-x86_64-v7" in kept_datas


def test_macos_gets_an_app_bundle_with_the_app_version(monkeypatch: pytest.MonkeyPatch) -> None:
    run = run_spec(monkeypatch, platform="darwin")
    (bundle,) = run.bundles
    assert bundle["name"] == "ReelDrop.app"
    assert bundle["version"] == __version__
    assert bundle["info_plist"]["CFBundleShortVersionString"] == __version__
    assert Path(bundle["icon"]).is_file()
    # The GUI must be the bundle's main executable: the first one collected.
    assert run.collects[0][0][0].name == "reeldrop-gui"
    for exe in run.exes:
        assert Path(exe.options["entitlements_file"]).is_file()
        assert exe.options["icon"].endswith(".icns")


def test_windows_executables_carry_the_app_version(monkeypatch: pytest.MonkeyPatch) -> None:
    run = run_spec(monkeypatch, platform="win32")
    for exe in run.exes:
        assert exe.options["icon"].endswith(".ico") and Path(exe.options["icon"]).is_file()
        version_info = exe.options["version"]
        (string_file_info, _) = version_info.kwargs["kids"]
        (table,) = string_file_info.args[0]
        strings = {struct.args[0]: struct.args[1] for struct in table.args[1]}
        assert strings["ProductVersion"] == __version__  # what the Inno Setup script reads
        assert strings["OriginalFilename"] == f"{exe.name}.exe"


def test_the_resources_hook_points_at_the_repository_root() -> None:
    hook = ROOT / "packaging" / "hooks" / "pre_safe_import_module" / "hook-app.py"
    spec = importlib.util.spec_from_file_location("reeldrop_hook_app", hook)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (module.REPOSITORY_ROOT / "resources" / "__init__.py").is_file()

    appended: list[str] = []

    class Api:
        def append_package_path(self, directory: str) -> None:
            appended.append(directory)

    module.pre_safe_import_module(Api())
    assert appended == [str(ROOT)]
