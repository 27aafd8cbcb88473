"""The course of one launch, from its first window to its end: the planned actions in order (dialogs the
app opens on its own answered in between), then the planned ending, Ctrl+Q or `kill -9`, mid-upload when
it can be timed. What happened goes into the launch's RunResult."""

from __future__ import annotations

import time

from .launch import QUIT_TIMEOUT_S, ActionFailed, Launch
from .plan import Backend, Ending, RunPlan, RunResult


def drive(launch: Launch, plan: RunPlan, result: RunResult, shots: bool = False) -> None:
    """The launch from its first window to its end; fills in `result`. `shots`: a screenshot after each
    action, to see what the input did."""
    if not launch.wait_for_window():
        result.crashes.append("the app exited before its window appeared" if not launch.alive else "no window")
        return
    if plan.backend is Backend.SERVER:
        launch.wait_dialog("Sign in", 3)  # a server profile without a token yet asks at once
    for action in plan.actions:
        launch.tend_dialogs()
        if launch.signed_in:
            result.done.append("sign_in")
            launch.signed_in = False
        if not launch.alive:
            return
        try:
            result.done.append(launch.act(action))
            # Overwritten after every action: when the app dies, the screen at the end shows nothing of it.
            name = f"{len(result.done):02d}-{action}.png" if shots else "last-action.png"
            launch.x.screenshot(launch.run_dir / name)
        except ActionFailed as problem:
            result.done.append(f"{action}!")
            result.notes.append(str(problem))
            launch.close_dialogs()
        if not launch.alive:
            return
    launch.tend_dialogs()
    launch.close_dialogs()
    if plan.quit_mid_upload:
        under_way = launch.wait_upload_under_way()
        time.sleep(launch.rng.uniform(0.0, 1.5))
        when = "@upload" if under_way else "@idle"
    else:
        when = ""
    if not launch.alive:
        return
    if plan.ending is Ending.KILL:
        result.done.append(f"kill-9{when}")
        orphans = launch.kill()
        if orphans:
            result.notes.append("left running after kill -9: " + ", ".join(f"{n}[{p}]" for p, n in orphans))
        return
    exited = launch.quit()
    result.done.append(f"quit{when}" + ("+confirm" if launch.quit_confirmed else ""))
    if not exited:
        result.crashes.append(f"still running {QUIT_TIMEOUT_S:.0f} s after Ctrl+Q")
