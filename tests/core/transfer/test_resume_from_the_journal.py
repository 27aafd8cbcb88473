"""Resuming when the store's listing of parts cannot be had: the parts come from the journal, and
`complete` checks their ETags against what S3 holds.

Issue 15 item 10: a run that dies during `complete`, after S3 assembled the object but before the server
recorded it, used to cost the whole file again: the rerun's ListParts found no multipart upload (409), the
client started over and left a second copy. Now the rerun completes with the journal's ETags, the server
sees that the object is exactly those parts (S3's multipart ETag of them) and records it; nothing is sent.
Where S3 really dropped the parts, the rerun's complete is refused and the file starts afresh, once.
Issue 15 item 1: a store that cannot list parts at all (s3rver) resumes from the journal too."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from app.core.api import BackendClient, BackendUnavailable
from app.core.transfer.handle import UploadError
from app.server.db import Upload
from tests.support.files import random_file
from tests.support.servers import User
from tests.support.upload_stack import MiB, UploadStack, multipart_uploads_left, stored_sha256, upload_status
from tests.support.waiting import wait_until

RESULT_TIMEOUT = 60
NO_SUCH_UPLOAD_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchUpload</Code>'
    b"<Message>The specified upload does not exist.</Message></Error>"
)


class DiesDuringComplete(BackendClient):
    """`complete` reaches S3 (or S3 drops the upload meanwhile, `assemble=False`) and its answer is lost."""

    def __init__(self, stack: UploadStack, user: User, *, assemble: bool) -> None:
        super().__init__(user.base_url, user.token)
        self.server, self.server_faults, self.assemble = stack.server, stack.proxy, assemble

    def complete(self, upload_id: str, parts: Sequence | None = None, sha256=None, size=None) -> dict:
        with self.server.services.db.session() as session:
            upload = session.get(Upload, upload_id)
            assert upload is not None
            key, s3_upload_id = upload.s3_key, upload.s3_upload_id or ""
        store = self.server.services.store
        if self.assemble:
            store.complete_multipart(key, s3_upload_id, [(part[0], part[1]) for part in parts or ()], None)
        else:
            store.abort_multipart(key, s3_upload_id)
            # S3 answers a complete of a dropped upload 404 NoSuchUpload; moto fails it with a 500 (a KeyError
            # inside it), so the proxy in front of moto gives S3's answer.
            bucket = self.server.services.config.bucket
            complete_call = f"POST /{bucket}/{key}?uploadId={s3_upload_id}"
            self.server_faults.respond(404, NO_SUCH_UPLOAD_XML, match=complete_call.encode())
        raise BackendUnavailable(0, "unreachable", "the connection dropped while complete was on its way")


@pytest.mark.parametrize("assembled", [True, False], ids=["S3 assembled it", "S3 dropped the parts"])
def test_a_rerun_after_a_lost_complete(
    faults: UploadStack, uploader: User, make_engine, tmp_path: Path, assembled: bool
) -> None:
    path = tmp_path / "finale.mp4"
    digest = random_file(path, 16 * MiB)
    dying = DiesDuringComplete(faults, uploader, assemble=assembled)
    with pytest.raises(UploadError) as first_run:
        make_engine(dying).submit(path).result(RESULT_TIMEOUT)
    assert first_run.value.resumable
    sent_first = sum(faults.part_puts("finale.mp4").values())

    result = make_engine().submit(path).result(RESULT_TIMEOUT)
    assert stored_sha256(uploader, result.upload_id) == digest
    assert upload_status(uploader, result.upload_id) == "uploaded"
    sent_again = sum(faults.part_puts("finale.mp4").values()) - sent_first
    if assembled:
        assert sent_again == 0 and result.bytes_sent == 0, (sent_again, result)
    else:
        assert sent_again == sent_first and result.bytes_sent == path.stat().st_size  # afresh, once
    assert not multipart_uploads_left(faults.server, "temp/")


METHOD_NOT_ALLOWED_XML = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>MethodNotAllowed</Code>'
    b"<Message>The specified method is not allowed against this resource.</Message></Error>"
)


def test_a_resume_on_a_store_that_cannot_list_parts_goes_on_from_the_journal(
    faults: UploadStack, uploader: User, make_engine, journal, tmp_path: Path
) -> None:
    """Issue 15 item 1: s3rver answers ListParts 405; the server passed it on as a 500, and every rerun said
    "run the upload again to resume", for ever. Now the server says the store cannot list parts (501) and the
    client resumes from its journal: the missing parts only, the journaled ETags checked by complete."""
    path = tmp_path / "nolist.mp4"
    digest = random_file(path, 26 * MiB)  # 6 parts of 5 MiB

    def some_parts_journaled() -> bool:
        entry = journal.get(handle.upload_id) if handle.upload_id else None
        return entry is not None and len(entry.parts) >= 2

    first = make_engine(bandwidth_limit=10 * MiB, concurrency=2)
    handle = first.submit(path)
    wait_until(some_parts_journaled, timeout=60, what="a few parts sent")
    first.shutdown()
    old = journal.get(handle.upload_id)
    kept_bytes = sum(part.size for part in old.parts)
    assert 2 <= len(old.parts) < 6
    list_parts = f"GET /{faults.server.services.config.bucket}/{old.s3_key}?uploadId="
    faults.proxy.respond(405, METHOD_NOT_ALLOWED_XML, match=list_parts.encode(), count=5)

    result = make_engine().submit(path).result(RESULT_TIMEOUT)
    assert faults.proxy.fired.get("respond 405", 0) >= 1  # the store did refuse to list
    assert result.upload_id == old.upload_id and result.bytes_sent == path.stat().st_size - kept_bytes
    assert stored_sha256(uploader, result.upload_id) == digest
