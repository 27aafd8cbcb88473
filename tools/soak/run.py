"""The soak as a whole: one desktop, keyring and (when a server launch is planned) server for all
launches, then the launches one after another on the chosen backends, a line each and a summary; any
crash makes it exit 1, and its work folder is kept."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from .desktop import desktop, private_keyring
from .drive import drive
from .home import Home, make_clips
from .launch import LINGER_MAX_S, Launch
from .plan import Backend, RunPlan, RunResult, plan_run
from .processes import SoakError, missing_tools
from .server import soak_server
from .verdict import judge, keep_artefacts
from .xdotool import X


@dataclass
class Soak:
    root: Path
    x: X
    python: str
    clips: list[Path]
    server_url: str | None
    bus_env: dict[str, str]
    homes: dict[Backend, Home] = field(default_factory=dict)
    made: int = 0
    cores_kept: int = 0
    shots: bool = False
    linger_max: float = LINGER_MAX_S

    def home_for(self, plan: RunPlan) -> Home:
        previous = self.homes.get(plan.backend)
        if plan.relaunch and previous is not None:
            return previous
        if previous is not None:
            shutil.rmtree(previous.path, ignore_errors=True)  # one home per backend on disk at a time
        self.made += 1
        limit = random.Random(plan.seed).choice((512 * 1024, 1024 * 1024, 2 * 1024 * 1024))
        home = Home.create(self.root / f"home-{self.made:03d}-{plan.backend}", plan.backend, self.clips,
                           self.server_url, limit)  # fmt: skip
        self.homes[plan.backend] = home
        return home

    def run(self, plan: RunPlan) -> RunResult:
        home = self.home_for(plan)
        home.launches += 1
        run_dir = self.root / f"run-{plan.number:03d}"
        run_dir.mkdir()
        result = RunResult(plan)
        started_at = time.monotonic()
        launch = Launch(self.x, home, run_dir, self.python, self.bus_env, random.Random(plan.seed + ":input"))
        launch.linger_max = self.linger_max
        shot = None
        try:
            drive(launch, plan, result, self.shots)
            if launch.alive:
                shot = self.x.screenshot(run_dir / "screen.png")  # the hung window, before it is killed
        finally:
            launch.reap()
        result.seconds = time.monotonic() - started_at
        judge(launch, result)
        if result.crashed:
            shot = shot or self.x.screenshot(run_dir / "screen.png")
            self.cores_kept += keep_artefacts(launch, result, shot, keep_core=self.cores_kept == 0)
        return result


def backends_for(choice: str, runs: int) -> list[Backend]:
    if choice == "both":
        return [Backend.LOCAL if n % 2 else Backend.SERVER for n in range(1, runs + 1)]
    return [Backend(choice)] * runs


def report_line(result: RunResult, runs: int) -> str:
    plan = result.plan
    verdict = "CRASH: " + "; ".join(result.crashes) if result.crashed else "ok"
    kind = "relaunch" if plan.relaunch else "fresh"
    line = (f"run {plan.number:3d}/{runs} {plan.backend:6s} {kind:8s} exit={result.exit_code!s:4s} "
            f"{result.seconds:5.1f}s  {','.join(result.done)}  {verdict}")  # fmt: skip
    if result.notes:
        line += "  [" + "; ".join(result.notes) + "]"
    if result.artefacts is not None:
        line += f"\n    kept: {result.artefacts} (screen.png, last-action.png, stderr.txt, log/)"
    return line


def soak(args: argparse.Namespace) -> int:
    missing = missing_tools()
    if missing:
        print(f"gui_soak: missing {', '.join(missing)} (Debian: apt-get install xvfb openbox xdotool x11-utils)")
        return 2
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000)
    print(f"gui_soak: seed {seed} (replay with --seed {seed}); {args.runs} launches, backend {args.backend}")
    # SIGTERM (a CI timeout) unwinds like an error, so the app, the server, the bus and Xvfb are stopped.
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    root = Path(tempfile.mkdtemp(prefix="reeldrop-soak-"))
    results: list[RunResult] = []
    loads: list[float] = []
    began = time.monotonic()
    try:
        with ExitStack() as stack:
            display = stack.enter_context(desktop(root))
            bus_env = stack.enter_context(private_keyring(root))
            backends = backends_for(args.backend, args.runs)
            server_url = stack.enter_context(soak_server(root, args.python)) if Backend.SERVER in backends else None
            clips = make_clips(root / "clips")
            print(f"gui_soak: display {display}, work in {root}" + (f", server {server_url}" if server_url else ""))
            state = Soak(
                root, X(display), args.python, clips, server_url, bus_env, shots=args.shots, linger_max=args.linger_max
            )
            for number, backend in enumerate(backends, start=1):
                if args.max_seconds is not None and time.monotonic() - began > args.max_seconds:
                    print(f"gui_soak: --max-seconds {args.max_seconds:g} reached; no more launches")
                    break
                plan = plan_run(seed, number, backend, can_relaunch=backend in state.homes)
                result = state.run(plan)
                results.append(result)
                loads.append(os.getloadavg()[0])
                print(report_line(result, args.runs), flush=True)
    except SoakError as problem:
        print(f"gui_soak: could not run: {problem}")
        return 2
    finally:
        crashed = [r for r in results if r.crashed]
        keep = args.keep or bool(crashed)
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    wall = time.monotonic() - began
    kills = sum(1 for r in results if any(d.startswith("kill-9") for d in r.done))
    quits = sum(1 for r in results if any(d.startswith("quit") for d in r.done))
    confirmed = sum(1 for r in results if any(d.endswith("+confirm") for d in r.done))
    relaunches = sum(1 for r in results if r.plan.relaunch)
    per_backend = ", ".join(f"{b}: {sum(1 for r in results if r.plan.backend is b)}" for b in Backend)
    print(
        f"gui_soak: {len(results)} launches ({per_backend}; {relaunches} relaunches with a saved queue), "
        f"{len(crashed)} crashed, {kills} kill -9, {quits} Ctrl+Q ({confirmed} confirmed); {wall:.0f} s; "
        f"load (1 min) max {max(loads, default=0):.2f}, mean {sum(loads) / max(len(loads), 1):.2f}; seed {seed}"
    )
    for result in crashed:
        print(f"gui_soak: CRASH in run {result.plan.number} (seed {result.plan.seed}): {'; '.join(result.crashes)}")
    if keep:
        print(f"gui_soak: kept {root}")
    return 1 if crashed else 0


def _stop_on_sigterm(_number: int, _frame: object) -> None:
    raise SoakError("stopped by SIGTERM")
