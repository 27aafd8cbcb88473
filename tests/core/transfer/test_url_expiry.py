"""Issue 15 item 4: a part URL that expired, or is about to, is replaced before the part is sent, and a
store's way of saying "expired" that is not AWS's (rclone: 400 AccessDenied about the request time) asks
for a new URL instead of aborting the whole upload.

moto does not enforce presigned expiry, so the first test reads it off what reached the store: every part
PUT must arrive before its URL's X-Amz-Date + X-Amz-Expires. Parts are signed 2 × concurrency ahead; with
the link capped so that a part takes longer than a URL lives, the queued ones used to go out expired (on
s3rver, +33 % bytes sent again)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from app.core.api import BackendClient
from app.core.transfer.engine import UploadEngine
from app.core.transfer.journal import Journal
from app.core.transfer.retry import BackoffPolicy
from tests.core.transfer.test_retry import RCLONE_EXPIRED_XML
from tests.support.files import random_file
from tests.support.upload_stack import MiB, UploadStack, part_match, stored_sha256, upload_stack

URL_LIFETIME_S = 2


@pytest.fixture(scope="module")
def short_lived(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UploadStack]:
    with upload_stack(tmp_path_factory.mktemp("short-lived"), env={"S3_UPLOAD_EXPIRATION": str(URL_LIFETIME_S)}) as s:
        yield s


def _expiry_of(target: str) -> float:
    query = parse_qs(urlsplit(target).query)
    signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed.timestamp() + int(query["X-Amz-Expires"][0])


def test_no_part_goes_out_on_a_url_that_has_expired(short_lived: UploadStack, tmp_path: Path) -> None:
    short_lived.reset()
    user = short_lived.server.add_user()
    path = tmp_path / "queued.mp4"
    digest = random_file(path, 3 * 5 * MiB)
    short_lived.proxy.set_bandwidth(2 * MiB)  # 2.5 s a part: longer than a URL lives
    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        engine = UploadEngine(BackendClient(user.base_url, user.token), journal, concurrency=1, part_size=5 * MiB)
        try:
            result = engine.submit(path).result(120)
        finally:
            engine.shutdown()
    puts = [r for r in short_lived.proxy.requests if r.method == "PUT" and "partNumber=" in r.target]
    late = [
        (r.target.split("?")[0], round(r.seen_at - _expiry_of(r.target), 2))
        for r in puts
        if r.seen_at > _expiry_of(r.target)
    ]
    assert not late, f"parts sent on expired URLs (seconds late): {late}"
    assert len(puts) == 3 and result.bytes_sent == path.stat().st_size  # nothing sent twice
    assert stored_sha256(user, result.upload_id) == digest


def test_rclones_expired_answer_gets_a_new_url_not_an_aborted_upload(short_lived: UploadStack, tmp_path: Path) -> None:
    short_lived.reset()
    user = short_lived.server.add_user()
    path = tmp_path / "skewed.mp4"
    digest = random_file(path, 16 * MiB)
    short_lived.proxy.respond(400, RCLONE_EXPIRED_XML, match=part_match(2))
    with Journal.open(tmp_path / "journal.sqlite3") as journal:
        policy = BackoffPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2)
        engine = UploadEngine(BackendClient(user.base_url, user.token), journal, part_size=5 * MiB, policy=policy)
        try:
            result = engine.submit(path).result(60)
        finally:
            engine.shutdown()
    assert short_lived.proxy.fired == {"respond 400": 1}
    assert stored_sha256(user, result.upload_id) == digest
