"""Entry of the frozen `reeldrop` console executable.

`reeldrop …` is the command line (app.cli); `reeldrop server …` runs the reference backend
(app.server.cli, the `reeldrop-server` of a pip install), so the package ships one console executable,
not two that would each carry their own copy of the Python modules.
"""

from __future__ import annotations

import multiprocessing
import sys

SERVER_COMMAND = "server"


def main() -> int:
    # A no-op unless a library starts a process with multiprocessing; then a frozen child needs it.
    multiprocessing.freeze_support()
    argv = sys.argv[1:]
    if argv[:1] == [SERVER_COMMAND]:
        from app.server.cli import main as server_main

        return server_main(argv[1:])
    from app.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
