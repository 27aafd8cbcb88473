"""Upload a file while it is being written (compress-while-upload): a multipart upload fed by a GrowingScanner.

The server is told the file streams in (``streaming: true``) with an upper bound for its size; it signs
parts up to that bound and takes the real size on complete. Parts go out as the file grows, on the same
connection budget, bandwidth limit, retries and journal as any upload. When the writer has finished, the
parts read early are checked against the finished file and any that changed are sent again; then the
journal entry is sealed with the finished file's fingerprint, so from then on a crash resumes this upload
like any other. Before that, a crash leaves an entry no file matches, and the next upload of the path
aborts it (the writer starts over and writes different bytes).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import Future

from app.core.transfer.checksums import PartChecksum
from app.core.transfer.context import EngineContext, FileJob
from app.core.transfer.growing import GrowingFile, GrowingScanner
from app.core.transfer.handle import UploadCancelled, UploadInterrupted, UploadResult, UploadStatus
from app.core.transfer.journal import UploadState
from app.core.transfer.multipart import MultipartUpload
from app.core.transfer.part_sender import PartTask
from app.core.transfer.planning import split
from app.core.transfer.resume import SERVER_CHECKSUM, MultipartStart, abort_quietly, algorithm_of
from app.core.transfer.streams import SourceChangedError, checksum_range

log = logging.getLogger(__name__)

# Small parts let the upload follow the encoder closely (the last part can only leave once the encoder
# is done, so the tail the overlap cannot hide is one part); S3's minimum is 5 MiB.
STREAMING_PART_SIZE = 8 * 1024 * 1024


def start_streaming(ctx: EngineContext, job: FileJob, upper_bound: int) -> MultipartStart:
    """Abort what an earlier, unfinished writer left for this path; open a streaming upload."""
    stale = ctx.journal.find(job.path, state=UploadState.UPLOADING, backend=ctx.backend_id)
    if stale is not None:
        abort_quietly(ctx, stale.upload_id, f"{job.path} is being written again")
    answer = ctx.client.presign(
        os.path.basename(job.path),
        upper_bound,
        job.content_type,
        part_size=ctx.part_size or STREAMING_PART_SIZE,
        checksum_algorithm=SERVER_CHECKSUM.get(ctx.checksum_algorithm),
        streaming=True,
    )
    upload_id, s3_key, part_size = answer["upload_id"], answer["s3_key"], int(answer["part_size"])
    ctx.journal.start_growing(job.path, upload_id=upload_id, s3_key=s3_key, part_size=part_size, backend=ctx.backend_id)
    return MultipartStart(upload_id, s3_key, part_size, algorithm_of(answer))


class StreamingUpload(MultipartUpload):
    def __init__(
        self, ctx: EngineContext, job: FileJob, start: MultipartStart, growing: GrowingFile, part_count: int
    ) -> None:
        # Until the writer finishes, the plan is the upper bound (for "part 3 of N" and the signing range).
        super().__init__(ctx, job, start, part_count * start.part_size)
        self.growing = growing
        self.max_parts = part_count
        self.scanner: GrowingScanner | None = None

    @property
    def read_early(self) -> dict[int, PartChecksum]:
        return self.scanner.read_early if self.scanner is not None else {}

    def run(self, started_at: float) -> UploadResult:
        ctx, handle = self.ctx, self.job.handle
        handle.set_state(UploadStatus.UPLOADING)
        scanner = self.scanner = GrowingScanner(
            self.growing, self.start.part_size, max_parts=self.max_parts, algorithm=self.start.algorithm
        )
        try:
            self._send_all(iter(scanner))
            self.plan = split(scanner.size, self.start.part_size)
            ctx.progress.set_total(handle.file_id, scanner.size)
            sha256 = self._resend_changed(scanner)
        except (UploadCancelled, UploadInterrupted):
            raise
        except BaseException:
            self._interrupt_in_flight(final=True)
            raise
        ctx.journal.seal(self.start.upload_id)
        handle.set_state(UploadStatus.COMPLETING)
        parts = [(n, etag, checksum.crc32c) for n, (etag, checksum) in sorted(self.finished.items())]
        answer = ctx.client.complete(self.start.upload_id, parts, sha256=sha256, size=scanner.size)
        self._check_completion(answer, sha256)
        ctx.journal.mark_completed(self.start.upload_id, sha256=sha256)
        return UploadResult(
            path=handle.path,
            upload_id=self.start.upload_id,
            s3_key=answer.get("s3_key") or self.start.s3_key,
            size=scanner.size,
            sha256=sha256,
            method="MULTIPART",
            part_count=self.plan.part_count,
            parts_reused=0,
            bytes_reused=0,
            bytes_sent=self.job.wire.value,
            seconds=time.monotonic() - started_at,
        )

    def _settle(self, future: Future[str], task: PartTask) -> None:
        number = task.part.number
        error = future.exception() if future.done() and not future.cancelled() else None
        if number in self.read_early and _caused_by(error, SourceChangedError):
            # The writer changed this part while it was being sent: the check after the writer is done
            # sends it again with the finished bytes. Anything else fails the file as usual.
            log.info("%s: part %d changed while it was sent; it goes again at the end", self.job.name, number)
            return
        super()._settle(future, task)

    def _resend_changed(self, scanner: GrowingScanner) -> str:
        """Send again the parts whose bytes the writer changed after they were read; the file's SHA-256."""
        changed: dict[int, PartChecksum] = scanner.changed_parts()
        for part in self.plan.parts:  # a part whose send was cut short by a change was never stored
            if part.number not in self.finished and part.number not in changed:
                changed[part.number] = checksum_range(
                    self.job.path, part.offset, part.length, algorithm=self.start.algorithm
                )
        if not changed:
            return scanner.sha256_hex
        log.info("%s: parts %s changed after they were read; sending them again", self.job.name, sorted(changed))
        for number, checksum in changed.items():
            self.finished.pop(number, None)
            self.ctx.progress.rollback_part(self.job.handle.file_id, number)
            self.requeued.append(PartTask(self.plan.part(number), checksum))
        self._send_all(iter(()))
        return scanner.rehash()


def _caused_by(error: BaseException | None, kind: type[BaseException]) -> bool:
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, kind):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False
