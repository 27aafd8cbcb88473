"""Issue 12's "zero crashes", in CI: the real app launched several times under Xvfb + openbox, on both
backends, driven with real input by tools/gui_soak.py; any crash fails. The long form (100+ launches) is the
same tool with a larger --runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools.soak.processes import missing_tools

REPO = Path(__file__).resolve().parents[2]
SOAK_SCRIPT = REPO / "tools" / "gui_soak.py"
RUNS = 8
MIN_RUNS = 4  # what must have run, whatever the machine's speed, for a pass to mean something
NO_NEW_LAUNCH_AFTER_S = 140.0  # then the launch under way finishes, typically in 10-40 s
LINGER_MAX_S = 25.0  # a lingering launch stays 15-25 s here (40 in the long soak)
SOAK_TIMEOUT_S = 215.0

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def test_the_app_survives_launches_driven_like_a_user(tmp_path: Path) -> None:
    missing = missing_tools()
    if missing:
        pytest.skip(f"the GUI soak needs an X server and real input; missing: {', '.join(missing)}")
    # A new seed each time explores more; the soak prints it, and `--seed` replays a failure's plan.
    seed = int(os.environ.get("REELDROP_SOAK_SEED") or int.from_bytes(os.urandom(3), "big"))
    command = [sys.executable, str(SOAK_SCRIPT), "--runs", str(RUNS), "--backend", "both", "--seed", str(seed),
               "--max-seconds", str(NO_NEW_LAUNCH_AFTER_S), "--linger-max", str(LINGER_MAX_S)]  # fmt: skip
    # Another interpreter/build of the app to soak (e.g. one with a known crash, to see this test fail).
    if os.environ.get("REELDROP_SOAK_PYTHON"):
        command += ["--python", os.environ["REELDROP_SOAK_PYTHON"]]
    # The soak sets up its own display, bus, keyring and homes; it must not inherit this test's
    # offscreen platform or REELDROP_HOME (it clears both for the app anyway).
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "REELDROP_HOME")}
    with subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as soak:
        try:
            report, _ = soak.communicate(timeout=SOAK_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            soak.terminate()  # the soak stops its app, server, bus and X server on SIGTERM
            report, _ = soak.communicate(timeout=60)
            pytest.fail(f"the GUI soak did not finish within {SOAK_TIMEOUT_S:.0f} s (seed {seed}):\n{report}")
    print(report)  # the per-launch lines, shown with -rA or -s
    assert soak.returncode == 0, f"the GUI soak failed (seed {seed}):\n{report}"
    summary = re.search(r"gui_soak: (\d+) launches .*?, (\d+) crashed", report)
    assert summary is not None, report
    launches, crashed = int(summary[1]), int(summary[2])
    assert crashed == 0, report
    assert launches >= MIN_RUNS, f"only {launches} launches ran in the time allowed:\n{report}"
    for backend in ("local", "server"):
        assert re.search(rf"^run +\d+/\d+ {backend} .* ok", report, re.M), f"no {backend} launch passed:\n{report}"
