"""GUI soak (issue 12, "zero crashes"): launch the real desktop app many times, drive it like a user, fail on
any crash.

Each launch runs `python -m app` on Xvfb with openbox in a private home, driven with real X input through
xdotool, on the app's built-in server ("This computer") or a separate `reeldrop-server` the soak starts;
it ends with Ctrl+Q or `kill -9`. The seed is printed and `--seed` replays the same plan. The soak exits 1
when any launch crashed (what counts as a crash: tools/soak/verdict.py), 2 when it could not set up. This
file is the command line; the soak itself is the package tools/soak/.

    python tools/gui_soak.py --runs 20 --backend both [--seed 7] [--keep]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run as a script (from the repository or elsewhere), only tools/ is on sys.path: the repository root is
# what makes `tools.soak` importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.soak.launch import LINGER_MAX_S
from tools.soak.run import soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="launches of the app (default 10)")
    parser.add_argument("--backend", choices=("local", "server", "both"), default="both")
    parser.add_argument("--seed", type=int, help="replay the plan of an earlier soak")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (always kept after a crash)")
    parser.add_argument("--max-seconds", type=float, help="start no launch after this long (for CI's bound)")
    parser.add_argument("--linger-max", type=float, default=LINGER_MAX_S, help="longest stay of a lingering launch")
    parser.add_argument("--shots", action="store_true", help="a screenshot after every action (with --keep)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter that runs `-m app`")
    return soak(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
