"""Upload a file while it is being written (compress-while-upload): a multipart upload fed by a GrowingScanner.

The server is told the file streams in (``streaming: true``) with an upper bound for its size; it signs
parts up to that bound and takes the real size on complete. Parts go out as the file grows, on the same
connection budget, bandwidth limit, retries and journal as any upload. When the writer has finished, the
parts read early are checked against the finished file and any that changed are sent again; then the
journal entry is sealed with the finished file's fingerprint, so from then on a crash resumes this upload
like any other. Before that, a crash leaves an entry no file matches, and the next upload of the path
aborts it (the writer starts over and writes different bytes). A writer that stops first ends the upload
the way it stopped (``WriterStopped``: failed, cancelled, interrupted by a quit); a writer that is only
paused is waited for, and pausing the handle with it puts the parts in flight aside until it resumes.

Lead parts: whenever the link has room, the part the writer is writing now is already on the wire (a
``GrowingPartBody`` sends each block as it is written), so a part is stored moments after its last byte is
written instead of a whole part's send later; when the encoder ends, only the last, shorter part is left
(its lead request declared a whole part and is dropped). A lead's URL cannot pin a checksum, so the
upload is created without a checksum algorithm: parts read whole are signed with their Content-MD5, and a
lead part is checked afterwards, its ETag against the MD5 of what was sent and that against the scan's
MD5 of the part (which the end-of-stream check compares with the finished file). MD5 costs more CPU than
CRC32C (~1.4 s/GiB, twice), small next to the encode that writes the file. A lead that fails for any
reason costs only time: the part goes again the ordinary way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from concurrent.futures import Future
from enum import Enum

from app.core.transfer.checksums import ChecksumAlgorithm, PartChecksum
from app.core.transfer.context import EngineContext, FileInFlight, plain
from app.core.transfer.control import TransferInterrupted, TransferPaused
from app.core.transfer.growing import GrowingFile, GrowingFileAbandoned, GrowingScanner, PartCutShort, WriterStopped
from app.core.transfer.handle import UploadCancelled, UploadError, UploadInterrupted, UploadResult, UploadStatus
from app.core.transfer.journal import UploadState
from app.core.transfer.multipart import MultipartUpload
from app.core.transfer.part_bodies import SourceChangedError, checksum_range
from app.core.transfer.part_sender import PartTask
from app.core.transfer.planning import Part, split
from app.core.transfer.resume import MultipartStart, abort_quietly, algorithm_of

log = logging.getLogger(__name__)

# S3's smallest part: the last part can only be sent once the encoder is done (its length is unknown
# before), so the tail the overlap cannot hide is that part: half a part on average, at link rate.
# The server raises it for outputs too large for 10,000 such parts (50 GB).
STREAMING_PART_SIZE = 5 * 1024 * 1024


class Lead(Enum):
    SENDING = "sending"  # on the wire (or waiting to be sent again after a pause)
    STORED = "stored"
    DROPPED = "dropped"  # cut short or failed: the part goes the ordinary way


def start_streaming(ctx: EngineContext, job: FileInFlight, upper_bound: int) -> MultipartStart:
    """Abort what an earlier, unfinished writer left for this path; open a streaming upload."""
    stale = ctx.journal.find(job.path, state=UploadState.UPLOADING, backend=ctx.backend_id)
    if stale is not None:
        abort_quietly(ctx, stale.upload_id, f"{job.path} is being written again")
    answer = ctx.client.presign(
        os.path.basename(job.path),
        upper_bound,
        job.content_type,
        part_size=ctx.part_size or STREAMING_PART_SIZE,
        checksum_algorithm=None,  # lead parts are signed before their bytes exist (module docstring)
        streaming=True,
    )
    upload_id, s3_key, part_size = answer["upload_id"], answer["s3_key"], int(answer["part_size"])
    ctx.journal.start_growing(job.path, upload_id=upload_id, s3_key=s3_key, part_size=part_size, backend=ctx.backend_id)
    return MultipartStart(upload_id, s3_key, part_size, algorithm_of(answer))


class StreamingUpload(MultipartUpload):
    def __init__(
        self, ctx: EngineContext, job: FileInFlight, start: MultipartStart, growing: GrowingFile, part_count: int
    ) -> None:
        # Until the writer finishes, the plan is the upper bound (for "part 3 of N" and the signing range).
        super().__init__(ctx, job, start, part_count * start.part_size)
        self.growing = growing
        self.max_parts = part_count
        self.scanner: GrowingScanner | None = None
        self._resent: dict[int, PartChecksum] = {}
        self.leads: dict[int, Lead] = {}
        # Parts the scan read while their lead was still on the wire: settled when the lead is.
        self._awaiting: dict[int, tuple[Part, PartChecksum]] = {}

    @property
    def read_early(self) -> dict[int, PartChecksum]:
        return self.scanner.read_early if self.scanner is not None else {}

    def run(self, started_at: float) -> UploadResult:
        self.job.handle.set_state(UploadStatus.UPLOADING)
        scanner = self.scanner = GrowingScanner(
            self.growing, self.start.part_size, max_parts=self.max_parts, algorithm=self.start.algorithm
        )
        try:
            self._send_all(self._scan_then_seal(scanner))
            sha256 = self._send_what_is_missing(scanner)
        except (UploadCancelled, UploadInterrupted):
            raise
        except GrowingFileAbandoned as stopped:
            raise self._writer_stopped(stopped) from None
        except BaseException:
            self._interrupt_in_flight(final=True)
            raise
        return self._complete(sha256, started_at)  # self.plan is the finished file's by now

    def _writer_stopped(self, stopped: GrowingFileAbandoned) -> UploadError:
        """The upload's end when its writer stopped first: an expected outcome (the user cancelled, the app
        quits, the encoder failed and says so itself), so a plain UploadError, never an unexpected one."""
        self._interrupt_in_flight(final=True)
        path = self.job.path
        if stopped.why is WriterStopped.CANCELLED:
            self.job.handle.cancel()  # so the engine neither aborts it twice nor calls it a failure
            abort_quietly(self.ctx, self.start.upload_id, "its encode was cancelled")
            return UploadCancelled(path, "cancelled with its encode; the upload was aborted on the server")
        if stopped.why is WriterStopped.INTERRUPTED:
            # Kept in the journal unsealed: the next upload of this path (the encode starts over) aborts it.
            return UploadInterrupted(path, "interrupted with its encode, which starts over next time", resumable=True)
        return UploadError(path, "it was not finished by its writer (the encode failed)")

    def _scan_then_seal(self, scanner: GrowingScanner) -> Iterator[tuple[Part, PartChecksum] | PartTask | None]:
        """The scan, with a lead part whenever the next part is not written yet; once the writer is done,
        the early parts are checked and the journal is sealed, while the last parts are still in flight (a
        quit from then on resumes the upload instead of redoing it)."""
        for item in scanner:
            if item is None:
                lead = self._next_lead(scanner)
                if lead is not None:
                    yield lead
                yield None  # the caller sends what it has rather than wait here for the writer
            elif not self._covered_by_lead(*item):
                yield item
        self.plan = split(scanner.size, self.start.part_size)
        self.ctx.progress.set_total(self.job.handle.file_id, scanner.size)
        changed = scanner.changed_parts()
        if changed:
            log.info("%s: parts %s changed after they were read; sending them again", self.job.name, sorted(changed))
            self._resend(changed)
        self.ctx.journal.seal(self.start.upload_id)

    def _send_what_is_missing(self, scanner: GrowingScanner) -> str:
        """Send the parts whose send a change cut short (never stored); the finished file's SHA-256."""
        missing = {
            part.number: checksum_range(self.job.path, part.offset, part.length, algorithm=self.start.algorithm)
            for part in self.plan.parts
            if part.number not in self.finished
        }
        if missing:
            self._resend(missing)
            self._send_all(iter(()))
        # Bytes changed behind the scan's SHA-256 only if a part had to go again.
        return scanner.rehash() if self._resent else scanner.sha256_hex

    def _resend(self, parts: dict[int, PartChecksum]) -> None:
        self._resent.update(parts)
        numbers = set(parts)
        self.ctx.journal.forget_parts(self.start.upload_id, numbers)  # their journaled checksum is stale
        for number, checksum in parts.items():
            self.finished.pop(number, None)
            if self.leads.get(number) is Lead.SENDING:
                # Two requests for one part number must not race: the lead settles first, then this.
                self._awaiting[number] = (self.plan.part(number), checksum)
                continue
            self.ctx.progress.rollback_part(self.job.handle.file_id, number)
            self.requeued.append(PartTask(self.plan.part(number), checksum))

    # -- lead parts -------------------------------------------------------------------------------
    def _next_lead(self, scanner: GrowingScanner) -> PartTask | None:
        """A lead for the part the writer is writing now, if the link has room and it has none yet."""
        number, part_size = len(scanner.parts) + 1, self.start.part_size
        offset = (number - 1) * part_size
        if (
            self.start.algorithm is not ChecksumAlgorithm.MD5  # a server that insists on CRC32C per part
            or number > self.max_parts
            or number in self.leads
            or len(self.outstanding) >= self.ctx.concurrency  # busy with whole parts: the link is the limit
            or self.growing.finished
            or self.growing.current_size() <= offset
        ):
            return None
        self.leads[number] = Lead.SENDING
        return PartTask(Part(number=number, offset=offset, length=part_size), None, growing=self.growing)

    def _covered_by_lead(self, part: Part, checksum: PartChecksum) -> bool:
        """The scan read ``part``: False if it must be sent, True if its lead sent (or is sending) it."""
        state = self.leads.get(part.number)
        if state is Lead.SENDING:
            self._awaiting[part.number] = (part, checksum)
            return True
        if state is Lead.STORED:
            _etag, sent = self.finished[part.number]
            if sent != checksum:
                log.info("%s: part %d changed after its lead was sent; sending it again", self.job.name, part.number)
                self._resend({part.number: checksum})
            return True
        return False

    def _settle_lead(self, future: Future[str], task: PartTask) -> None:
        number = task.part.number
        try:
            etag = future.result()
        except TransferPaused:
            self.requeued.append(task)  # sent again from its first byte after resume
            return
        except TransferInterrupted:
            return
        except Exception as error:
            why = "the file ended inside it" if _caused_by(error, PartCutShort) else plain(error)
            log.info("%s: lead part %d dropped (%s); it goes the ordinary way", self.job.name, number, why)
            self._drop_lead(number)
            return
        awaited = self._awaiting.pop(number, None)
        if awaited is not None and awaited[1] != task.sent:
            log.info("%s: part %d changed while its lead was sent; sending it again", self.job.name, number)
            self.ctx.progress.rollback_part(self.job.handle.file_id, number)
            self._drop_lead(number, awaited)
            return
        assert task.sent is not None  # send_part sets it once the ETag matched
        self.leads[number] = Lead.STORED
        self._store(task, etag, task.sent)

    def _drop_lead(self, number: int, awaited: tuple[Part, PartChecksum] | None = None) -> None:
        self.leads[number] = Lead.DROPPED
        awaited = awaited or self._awaiting.pop(number, None)
        if awaited is not None:  # already read whole by the scan: send it now
            self.requeued.append(PartTask(*awaited))
        # else the scan has not reached it: it yields the part (whatever its final length) as usual

    def _settle(self, future: Future[str], task: PartTask) -> None:
        if task.growing is not None:
            self._settle_lead(future, task)
            return
        number = task.part.number
        error = future.exception() if future.done() and not future.cancelled() else None
        if number in self.read_early and _caused_by(error, SourceChangedError):
            # The writer changed this part while it was being sent: it is sent again once the writer is
            # done, with the finished bytes. Anything else fails the file as usual.
            log.info("%s: part %d changed while it was sent; it goes again at the end", self.job.name, number)
            return
        super()._settle(future, task)


def _caused_by(error: BaseException | None, kind: type[BaseException]) -> bool:
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, kind):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False
