"""Figures per client, the median over repeated runs, and the printed table."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

GIB = 1024**3
MIB = 1024**2


@dataclass
class Attempt:
    """One measured run of one client."""

    wall: float
    user: float
    sys: float
    rss_kib: int
    verified_size: int
    steady_rate: float | None = None  # bytes/s between 1% and 99% of the link's bytes (shaped run only)


@dataclass
class ClientResult:
    name: str
    settings: str
    size: int
    status: str = "ok"  # ok | failed | n/a
    message: str = ""
    attempts: list[Attempt] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.status, self.message = "failed", message

    def _median(self, attr: str) -> float | None:
        values = [getattr(a, attr) for a in self.attempts if getattr(a, attr) is not None]
        return statistics.median(values) if values else None

    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.attempts)

    @property
    def wall(self) -> float | None:
        return self._median("wall")

    @property
    def cpu_per_gib(self) -> float | None:
        values = [(a.user + a.sys) * GIB / self.size for a in self.attempts]
        return statistics.median(values) if values else None

    @property
    def rss_mib(self) -> float | None:
        value = self._median("rss_kib")
        return None if value is None else value / 1024

    @property
    def rate(self) -> float | None:
        wall = self.wall
        return self.size / wall if wall else None

    @property
    def steady_rate(self) -> float | None:
        return self._median("steady_rate")

    def as_dict(self, link_rate: float | None = None) -> dict[str, Any]:
        data = {
            "client": self.name,
            "status": self.status,
            "message": self.message,
            "settings": self.settings,
            "size": self.size,
            "wall_s": self.wall,
            "mb_per_s": None if self.rate is None else self.rate / 1e6,
            "cpu_s_per_gib": self.cpu_per_gib,
            "peak_rss_mib": self.rss_mib,
            "attempts": [asdict(a) for a in self.attempts],
        }
        if link_rate:
            data["wall_rate_of_link"] = None if self.rate is None else self.rate / link_rate
            data["steady_rate_of_link"] = None if self.steady_rate is None else self.steady_rate / link_rate
        return data


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths, strict=True)))
    out = [line, "  ".join("-" * w for w in widths)]
    for row in rows:
        out.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
    return "\n".join(out)


def render(results: list[ClientResult], link_rate: float | None = None) -> str:
    """The table; with ``link_rate`` (bytes/s) two more columns say how much of the link each client used."""
    headers = ["client", "wall s", "MB/s", "CPU s/GiB", "user s", "sys s", "peak RSS MiB", "object bytes"]
    if link_rate:
        headers += ["wall/link", "steady MB/s", "steady/link"]
    rows = []
    for r in results:
        if not r.ok:
            rows.append([r.name, *(["-"] * (len(headers) - 1))])
            continue
        last = r.attempts[-1]
        row = [
            r.name,
            _fmt(r.wall, ".2f"),
            _fmt(None if r.rate is None else r.rate / 1e6, ".1f"),
            _fmt(r.cpu_per_gib, ".2f"),
            _fmt(statistics.median(a.user for a in r.attempts), ".2f"),
            _fmt(statistics.median(a.sys for a in r.attempts), ".2f"),
            _fmt(r.rss_mib, ".1f"),
            f"{last.verified_size} ok",
        ]
        if link_rate:
            steady = r.steady_rate
            row += [
                _fmt(None if r.rate is None else 100 * r.rate / link_rate, ".1f") + "%",
                _fmt(None if steady is None else steady / 1e6, ".2f"),
                _fmt(None if steady is None else 100 * steady / link_rate, ".1f") + "%",
            ]
        rows.append(row)
    lines = [_table(headers, rows)]
    for r in results:
        if not r.ok:
            lines.append(f"  {r.name}: {r.status.upper()} — {r.message}")
    return "\n".join(lines)


def ratios(results: list[ClientResult]) -> dict[str, Any]:
    """ReelDrop's CPU/GiB and peak RSS divided by the best (lowest) peer's; empty when either is missing."""
    ours = next((r for r in results if r.name == "reeldrop" and r.ok), None)
    peers = [r for r in results if r.name != "reeldrop" and r.ok]
    if ours is None or not peers:
        return {}
    best_cpu = min(peers, key=lambda r: r.cpu_per_gib or float("inf"))
    best_rss = min(peers, key=lambda r: r.rss_mib or float("inf"))
    return {
        "cpu_per_gib_ratio": (ours.cpu_per_gib or 0) / (best_cpu.cpu_per_gib or float("nan")),
        "cpu_best_peer": best_cpu.name,
        "cpu_best_peer_s_per_gib": best_cpu.cpu_per_gib,
        "rss_ratio": (ours.rss_mib or 0) / (best_rss.rss_mib or float("nan")),
        "rss_best_peer": best_rss.name,
        "rss_best_peer_mib": best_rss.rss_mib,
    }


def render_ratios(found: dict[str, Any]) -> str:
    if not found:
        return "ReelDrop vs best peer: not computed (ReelDrop or every peer did not finish)"
    return (
        f"ReelDrop vs best peer: CPU/GiB ×{found['cpu_per_gib_ratio']:.2f} "
        f"(best peer {found['cpu_best_peer']}: {found['cpu_best_peer_s_per_gib']:.2f} s/GiB); "
        f"peak RSS ×{found['rss_ratio']:.2f} (best peer {found['rss_best_peer']}: {found['rss_best_peer_mib']:.1f} MiB)"
    )
