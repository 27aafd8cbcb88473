"""A bandwidth-limited test host: a network namespace behind a veth pair shaped with ``tc tbf``.

Host side ``<prefix>h`` (10.210.N.1/30) ↔ namespace side ``<prefix>n`` (10.210.N.2/30). The tbf qdisc sits
on the host side's egress, i.e. on the upload direction towards servers running inside the namespace.
Everything this module creates carries the bench's pid in its name, and ``close`` removes it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

log = logging.getLogger(__name__)

NS_PREFIX = "rdbench"
COMMAND_TIMEOUT = 15.0
# TCP/IP with timestamps costs 52 header bytes per segment, Ethernet 14 more, and tbf counts the frame.
TCP_IP_HEADERS = 52
ETHERNET_HEADER = 14
TBF_SHAPE = ("burst", "32kbit", "latency", "400ms")

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(bit|kbit|mbit|gbit)\s*$", re.I)
_RATE_FACTORS = {"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9}


def parse_rate(text: str) -> float:
    """A tc rate such as ``50mbit`` → bits per second (tc's k/m/g are decimal)."""
    found = _RATE.match(text)
    if not found:
        raise ValueError(f"rate {text!r}: expected a number and bit/kbit/mbit/gbit, e.g. 50mbit")
    return float(found.group(1)) * _RATE_FACTORS[found.group(2).lower()]


def why_not_available() -> str | None:
    """None when this machine can build a shaped link, else the reason it cannot."""
    if os.geteuid() != 0:
        return "the shaped run needs root (network namespaces, veth and tc)"
    missing = [tool for tool in ("ip", "tc") if shutil.which(tool) is None]
    if missing:
        return f"the shaped run needs iproute2 ({', '.join(missing)} not found)"
    return None


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_namespaces() -> list[str]:
    """Namespaces left by an earlier bench that was SIGKILLed (its pid is gone); deleting one drops its veth."""
    removed = []
    listing = _run("ip", "netns", "list", check=False).stdout
    for line in listing.splitlines():
        name = line.split()[0] if line.split() else ""
        suffix = name.removeprefix(NS_PREFIX)
        if name.startswith(NS_PREFIX) and suffix.isdigit() and not _pid_alive(int(suffix)):
            _run("ip", "netns", "del", name, check=False)
            removed.append(name)
    return removed


class ShapedLink:
    """Create with ``open()``, always ``close()`` (idempotent, safe after a half-finished ``open``)."""

    def __init__(self, rate: str) -> None:
        self.rate = rate
        self.rate_bits = parse_rate(rate)
        pid = os.getpid()
        self.namespace = f"{NS_PREFIX}{pid}"
        self.host_dev = f"rdb{pid}h"
        self.ns_dev = f"rdb{pid}n"
        self.host_addr = ""
        self.ns_addr = ""
        self._created_ns = False
        self._created_veth = False

    @property
    def rate_bytes(self) -> float:
        return self.rate_bits / 8

    @property
    def launcher(self) -> list[str]:
        return ["ip", "netns", "exec", self.namespace]

    def _pick_subnet(self) -> int:
        """A 10.210.N.0/30 that no interface or route on the host uses yet (bounded: 256 candidates)."""
        taken = _run("ip", "-o", "-4", "addr").stdout + _run("ip", "-4", "route").stdout
        for third in range(256):
            if f"10.210.{third}." not in taken:
                return third
        raise RuntimeError("no free 10.210.N.0/30 subnet for the shaped link")

    def open(self) -> ShapedLink:
        third = self._pick_subnet()
        self.host_addr, self.ns_addr = f"10.210.{third}.1", f"10.210.{third}.2"
        _run("ip", "netns", "add", self.namespace)
        self._created_ns = True
        _run("ip", "link", "add", self.host_dev, "type", "veth", "peer", "name", self.ns_dev)
        self._created_veth = True
        _run("ip", "link", "set", self.ns_dev, "netns", self.namespace)
        _run("ip", "addr", "add", f"{self.host_addr}/30", "dev", self.host_dev)
        _run("ip", "link", "set", self.host_dev, "up")
        _run("ip", "-n", self.namespace, "addr", "add", f"{self.ns_addr}/30", "dev", self.ns_dev)
        _run("ip", "-n", self.namespace, "link", "set", self.ns_dev, "up")
        _run("ip", "-n", self.namespace, "link", "set", "lo", "up")
        # A 4 KB bucket keeps bursts near the rate; 400 ms of queue lets TCP fill the link without drops.
        _run("tc", "qdisc", "add", "dev", self.host_dev, "root", "tbf", "rate", self.rate, *TBF_SHAPE)
        log.info("shaped link %s: %s → %s at %s", self.namespace, self.host_addr, self.ns_addr, self.rate)
        return self

    def set_rate(self, rate: str) -> None:
        """Change the link's rate in place (the servers behind it keep running)."""
        _run("tc", "qdisc", "change", "dev", self.host_dev, "root", "tbf", "rate", rate, *TBF_SHAPE)
        self.rate, self.rate_bits = rate, parse_rate(rate)

    def tx_bytes(self) -> int:
        """Bytes sent so far from the host side into the namespace (frames, headers included)."""
        return int(Path(f"/sys/class/net/{self.host_dev}/statistics/tx_bytes").read_text())

    def mtu(self) -> int:
        return int(Path(f"/sys/class/net/{self.host_dev}/mtu").read_text())

    def tcp_ceiling(self) -> float:
        """Share of the link rate one TCP stream's payload can reach: MSS / frame size on the wire."""
        mtu = self.mtu()
        return (mtu - TCP_IP_HEADERS) / (mtu + ETHERNET_HEADER)

    def qdisc_stats(self) -> str:
        return _run("tc", "-s", "qdisc", "show", "dev", self.host_dev, check=False).stdout.strip()

    def close(self) -> None:
        # Deleting the namespace deletes the veth end inside it, and with it the pair; the link delete is
        # for the case where the namespace could not be made but the veth could.
        if self._created_ns:
            _run("ip", "netns", "del", self.namespace, check=False)
            self._created_ns = False
        if self._created_veth:
            if Path(f"/sys/class/net/{self.host_dev}").exists():
                _run("ip", "link", "del", self.host_dev, check=False)
            self._created_veth = False
