"""The real upload path with faults in it: client -> FaultProxy -> ChecksumVerifier -> moto's S3 server,
and a ReelDrop backend whose S3 endpoint is the proxy (so presigned URLs point at it, and the Host
header they sign stays valid). Also helpers to read back what S3 stored.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.support.checksum_verifier import ChecksumVerifier
from tests.support.faultproxy import FaultProxy
from tests.support.servers import RunningServer, User, moto_s3_server, reeldrop_server

MiB = 1024 * 1024
_PART = re.compile(r"[?&]partNumber=(\d+)(?:&|$)")


@dataclass
class UploadStack:
    proxy: FaultProxy
    verifier: ChecksumVerifier
    server: RunningServer

    def reset(self) -> None:
        """Disarm every fault and forget what was seen (between tests sharing the stack)."""
        self.proxy.clear()
        with self.proxy._lock:
            self.proxy.requests.clear()
            self.proxy.fired.clear()
        self.verifier.rejected.clear()

    def part_puts(self, filename: str) -> Counter[int]:
        """How many PUTs of each part number of ``filename`` reached the proxy."""
        counts: Counter[int] = Counter()
        for record in list(self.proxy.requests):
            if record.method == "PUT" and f"/{filename}?" in record.target:
                match = _PART.search(record.target)
                if match:
                    counts[int(match.group(1))] += 1
        return counts

    def part_faults(self, filename: str, number: int) -> list[list[str]]:
        """The faults that hit each PUT of one part, in order."""
        found = []
        for record in list(self.proxy.requests):
            match = _PART.search(record.target)
            if record.method == "PUT" and f"/{filename}?" in record.target and match and int(match.group(1)) == number:
                found.append(list(record.faults))
        return found


def part_match(number: int) -> bytes:
    """A FaultProxy ``match`` that hits UploadPart requests of part ``number`` only (presigned URLs
    carry ``?uploadId=…&partNumber=N&X-Amz-…``; no other S3 call has a partNumber)."""
    return f"&partNumber={number}&".encode()


@contextmanager
def upload_stack(data_dir: Path, env: dict[str, str] | None = None) -> Iterator[UploadStack]:
    with ExitStack() as stack:
        s3_url = stack.enter_context(moto_s3_server())
        parts = urlsplit(s3_url)
        verifier = stack.enter_context(ChecksumVerifier((parts.hostname or "127.0.0.1", parts.port or 80)))
        proxy = stack.enter_context(FaultProxy(verifier.address))
        server_env = {"S3_MULTIPART_THRESHOLD": str(6 * MiB), **(env or {})}
        server = stack.enter_context(reeldrop_server(proxy.url, data_dir, env=server_env))
        yield UploadStack(proxy, verifier, server)


def stored_sha256(user: User, upload_id: str) -> str:
    """SHA-256 of the object S3 holds for an upload, read back through its presigned download URL."""
    answer = user.call("GET", f"/api/upload/{upload_id}/download")
    answer.raise_for_status()
    digest = hashlib.sha256()
    with requests.get(answer.json()["url"], stream=True, timeout=60) as response:
        response.raise_for_status()
        for block in response.iter_content(MiB):
            digest.update(block)
    return digest.hexdigest()


def upload_status(user: User, upload_id: str) -> str:
    answer = user.call("GET", f"/api/upload/{upload_id}")
    answer.raise_for_status()
    return str(answer.json()["status"])


def multipart_uploads_left(server: RunningServer, prefix: str = "") -> list[str]:
    """Keys of multipart uploads S3 still holds (an aborted upload must leave none)."""
    return [item["Key"] for item in server.services.store.list_multipart_uploads(prefix)]
