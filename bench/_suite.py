"""Run every client against one server stack, verify what each uploaded, and collect the figures."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _clients import ClientSpec, build_clients, parse_reeldrop_output
from _measure import ChildRun, run_measured
from _netns import ShapedLink
from _report import Attempt, ClientResult
from _servers import BUCKET, ServerStack
from botocore.exceptions import BotoCoreError, ClientError


class ClientFailed(Exception):
    pass


@dataclass
class LinkSampler:
    """Samples the shaped link's byte counter while a client runs, to find its steady transfer rate."""

    link: ShapedLink
    samples: list[tuple[float, int]] = field(default_factory=list)

    def tick(self) -> None:
        self.samples.append((time.monotonic(), self.link.tx_bytes()))

    def steady_rate(self, payload: int) -> float | None:
        """Payload bytes/s between 1% and 99% of the bytes the link carried: no process start-up, no tail."""
        if len(self.samples) < 3:
            return None
        start_tx, end_tx = self.samples[0][1], self.samples[-1][1]
        total = end_tx - start_tx
        if total <= 0:
            return None
        t_low = next(t for t, tx in self.samples if tx - start_tx >= 0.01 * total)
        t_high = next(t for t, tx in self.samples if tx - start_tx >= 0.99 * total)
        span = t_high - t_low
        return 0.98 * payload / span if span > 0.5 else None


@dataclass
class Suite:
    stack: ServerStack
    path: Path
    size: int
    sha256: str
    peers: list[str]
    log_dir: Path
    timeout: float
    repeat: int = 1
    link: ShapedLink | None = None

    def _say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def _specs(self, attempt: int) -> list[ClientSpec]:
        home = self.log_dir / f"reeldrop-home-{attempt}"  # a fresh journal: a rerun must not "resume"
        return build_clients(self.path, self.stack.api_url, self.stack.s3_url, self.stack.token, home, self.peers)

    def run(self) -> list[ClientResult]:
        results: dict[str, ClientResult] = {}
        s3 = self.stack.s3_client()
        for attempt in range(1, self.repeat + 1):
            # Rounds interleave the clients so that drift on the machine spreads over all of them.
            for spec in self._specs(attempt):
                result = results.setdefault(spec.name, ClientResult(spec.name, spec.settings, self.size))
                if result.status != "ok":
                    continue
                if spec.argv is None:
                    result.status, result.message = "n/a", spec.unavailable or "not available"
                    self._say(f"  {spec.name}: {result.message}")
                    continue
                self._say(f"  {spec.name} (run {attempt}/{self.repeat}) …")
                try:
                    result.attempts.append(self._run_one(spec, attempt, s3, result))
                    self._say(f"    {result.attempts[-1].wall:.2f} s wall, verified")
                except ClientFailed as exc:
                    result.fail(str(exc))
                    self._say(f"    FAILED: {exc}")
        return list(results.values())

    def _run_one(self, spec: ClientSpec, attempt: int, s3: Any, result: ClientResult) -> Attempt:
        assert spec.argv is not None
        env = self.stack.env()
        env.update(spec.extra_env)
        sampler = LinkSampler(self.link) if self.link else None
        child = run_measured(
            spec.argv,
            env,
            self.timeout,
            self.log_dir,
            f"{spec.name}-{attempt}",
            on_tick=sampler.tick if sampler else None,
        )
        if child.timed_out:
            raise ClientFailed(f"killed after {self.timeout:.0f} s (timeout)")
        if child.returncode != 0:
            raise ClientFailed(f"exit code {child.returncode}: {child.stderr_tail()}")
        key = spec.key or self._reeldrop_key(child, result)
        verified = self._verify(s3, key)
        return Attempt(
            wall=child.wall_seconds,
            user=child.user_seconds,
            sys=child.sys_seconds,
            rss_kib=child.max_rss_kib,
            verified_size=verified,
            steady_rate=sampler.steady_rate(self.size) if sampler else None,
        )

    def _reeldrop_key(self, child: ChildRun, result: ClientResult) -> str:
        found = parse_reeldrop_output(child.stdout)
        if found is None or not found.get("s3_key"):
            raise ClientFailed(f"no JSON result with an s3_key on stdout: {child.stdout.strip()[-300:]!r}")
        if found.get("error"):
            raise ClientFailed(f"reported error: {found['error']}")
        if found.get("parts") and "this run:" not in result.settings:
            result.settings += f"; this run: {found.get('method', '?')}, {found['parts']} part(s)"
        reported = found.get("sha256")
        if reported and str(reported).lower() != self.sha256:
            raise ClientFailed(f"reported sha256 {reported} differs from the file's {self.sha256}")
        if found.get("size") not in (None, self.size):
            raise ClientFailed(f"reported size {found.get('size')} differs from the file's {self.size}")
        return str(found["s3_key"])

    def _verify(self, s3: Any, key: str) -> int:
        """HeadObject: a client that failed quietly must not look fast. Then free moto's memory."""
        try:
            head = s3.head_object(Bucket=BUCKET, Key=key)
        except (ClientError, BotoCoreError) as exc:
            raise ClientFailed(f"HeadObject {key}: {exc}") from exc
        size = int(head["ContentLength"])
        if size != self.size:
            raise ClientFailed(f"object {key} holds {size} bytes, the file has {self.size}")
        try:
            s3.delete_object(Bucket=BUCKET, Key=key)
        except (ClientError, BotoCoreError) as exc:  # only memory is at stake: note it and go on
            self._say(f"    (could not delete {key}: {exc})")
        return size
