"""Run the `reeldrop` command line as a real subprocess, in a private REELDROP_HOME."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 120


@dataclass
class Cli:
    home: Path
    token: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("REELDROP_")}
        env["REELDROP_HOME"] = str(self.home)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        if self.token:
            env["REELDROP_TOKEN"] = self.token
        env.update(self.extra_env)
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "app.cli", *args]

    def run(self, *args: str, stdin: str | None = None, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.command(*args), input=stdin, capture_output=True, text=True, env=self.env(), timeout=timeout
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env()
        )

    @property
    def journal_file(self) -> Path:
        return self.home / "data" / "journal.sqlite3"

    def journaled_parts(self) -> int:
        """Parts the journal holds for uploads still in progress (0 before the journal exists)."""
        if not self.journal_file.exists():
            return 0
        try:
            with sqlite3.connect(f"file:{self.journal_file}?mode=ro", uri=True, timeout=5) as db:
                row = db.execute(
                    "SELECT COUNT(*) FROM parts JOIN uploads USING (upload_id) WHERE uploads.state = 'uploading'"
                ).fetchone()
        except sqlite3.Error:
            return 0  # created but not initialised yet
        return int(row[0])

    def uploading_ids(self) -> list[str]:
        with sqlite3.connect(f"file:{self.journal_file}?mode=ro", uri=True, timeout=5) as db:
            return [row[0] for row in db.execute("SELECT upload_id FROM uploads WHERE state = 'uploading'")]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def stop(process: subprocess.Popen[str], sig: int = signal.SIGKILL, timeout: float = 60) -> tuple[int, str, str]:
    """Send ``sig`` and collect (returncode, stdout, stderr), killing for good if it does not end."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate(timeout=10)
    return process.returncode, out, err


def run_in_terminal(cli: Cli, *args: str, timeout: float = RUN_TIMEOUT) -> tuple[int, str]:
    """Run the command on a pseudo-terminal (so it draws its progress bar); returns (exit code, output)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: become the command
        try:
            os.execve(sys.executable, cli.command(*args), cli.env())
        finally:
            os._exit(127)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            output.extend(data)
    finally:
        os.close(fd)
    waited, status = os.waitpid(pid, os.WNOHANG)
    while waited == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
        waited, status = os.waitpid(pid, os.WNOHANG)
    if waited == 0:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return -signal.SIGKILL, output.decode("utf-8", "replace")
    return os.waitstatus_to_exitcode(status), output.decode("utf-8", "replace")
