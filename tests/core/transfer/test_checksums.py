"""Part checksums: CRC32C from either implementation, the journal form, and what the backend is sent."""

from __future__ import annotations

import base64
import os

import google_crc32c
import pytest

from app.core.transfer import checksums
from app.core.transfer.checksums import ChecksumAlgorithm, PartChecksum, new_checksum


@pytest.mark.parametrize("fast", [True, False], ids=["crc32c-package", "google-crc32c"])
def test_crc32c_is_the_same_whichever_library_computes_it(monkeypatch, fast):
    if fast and checksums._FAST_CRC32C is None:
        pytest.skip("the optional crc32c package is not installed")
    if not fast:
        monkeypatch.setattr(checksums, "_FAST_CRC32C", None)
    data = os.urandom(3 * 1024 * 1024 + 17)
    running = new_checksum(ChecksumAlgorithm.CRC32C)
    for start in range(0, len(data), 1024 * 1024):
        running.update(data[start : start + 1024 * 1024])
    assert running.digest() == google_crc32c.value(data).to_bytes(4, "big")


def test_the_backend_gets_the_field_its_api_names():
    crc = checksums.finish(_fed(b"abc", "crc32c"), "crc32c")
    assert crc.sign_fields == {"checksum_crc32c": base64.b64encode(crc.digest).decode()}
    md5 = checksums.finish(_fed(b"abc", "md5"), "md5")
    assert md5.sign_fields == {"content_md5": "kAFQmDzST7DWlj99KOF/cg=="}
    assert PartChecksum.parse(str(crc)) == crc and PartChecksum.parse(str(md5)) == md5
    with pytest.raises(ValueError):
        PartChecksum.parse("crc32c:" + base64.b64encode(b"12345").decode())  # 5 bytes is no CRC32C


def _fed(data: bytes, algorithm: str):
    running = new_checksum(algorithm)
    running.update(data)
    return running
