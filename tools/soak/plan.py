"""What one launch will do, decided before it starts, and what it did. Actions come from a random
generator seeded with the soak's seed and the launch's number, so `--seed` replays the same plans (the
app's own timing still varies)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class Backend(StrEnum):
    LOCAL = "local"
    SERVER = "server"


class Ending(StrEnum):
    QUIT = "quit"
    KILL = "kill -9"


@dataclass
class RunPlan:
    number: int
    backend: Backend
    relaunch: bool
    actions: list[str]
    ending: Ending
    quit_mid_upload: bool
    seed: str


@dataclass
class RunResult:
    plan: RunPlan
    done: list[str] = field(default_factory=list)
    exit_code: int | None = None
    seconds: float = 0.0
    crashes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    artefacts: Path | None = None

    @property
    def crashed(self) -> bool:
        return bool(self.crashes)


ACTION_WEIGHTS = {
    "add_files": 3, "add_folder": 1, "pause_all": 2, "resume_all": 2, "pause_one": 1, "cancel_one": 2,
    "retry_all": 2, "remove_one": 1, "settings": 2, "tabs": 2, "about": 1, "wait": 2,
}  # fmt: skip


def plan_run(seed: int, number: int, backend: Backend, can_relaunch: bool) -> RunPlan:
    rng = random.Random(f"{seed}:{number}")
    relaunch = can_relaunch and rng.random() < 0.4
    count = rng.randint(2, 6)
    actions = rng.choices(list(ACTION_WEIGHTS), weights=list(ACTION_WEIGHTS.values()), k=count)
    if not relaunch or rng.random() < 0.5:
        actions.insert(0, rng.choice(("add_files", "add_files", "add_folder")))
    if rng.random() < 0.3:
        # Stay a while: issue 12's aborts came mid-work and idle after the files were done, as often as
        # on Ctrl+Q, and a launch of a few seconds rarely lives long enough to meet them.
        actions.append("linger")
    ending = Ending.KILL if rng.random() < 0.3 else Ending.QUIT
    return RunPlan(number, backend, relaunch, actions, ending, rng.random() < 0.7, f"{seed}:{number}")
