"""What every JSON route answers on success, as typed dictionaries.

A route annotated with one of these gets it as its response model: /openapi.json shows the answer's fields,
and the answer is checked against it before it is sent. They are TypedDicts, not models, because the answers
are built as dictionaries (mypy checks each literal against its type) and a key that only some answers carry
(`upload_url` beside a multipart plan, `url` on a public bucket) stays absent rather than turning into null,
which the older clients tell apart (``'upload_url' in answer``).

Python 3.11's typing.TypedDict is not accepted by pydantic; typing_extensions' is."""

from __future__ import annotations

from typing import Any, NotRequired

from typing_extensions import TypedDict

# --- sign-in ---------------------------------------------------------------------------------------------


class TokenAnswer(TypedDict):
    access_token: str
    token_type: str
    expires_in: int


class SignedOut(TypedDict):
    revoked: bool


class Me(TypedDict):
    username: str
    is_admin: bool
    quota_bytes: int
    used_bytes: int


# --- uploads ---------------------------------------------------------------------------------------------


class PresignAnswer(TypedDict):
    """A presigned POST (`upload_url` + `upload_fields`) for any file one POST can carry, and the multipart
    plan (`part_size` …) when the upload is MULTIPART: a client may use either."""

    upload_id: str
    id: str
    method: str
    file_type: str
    s3_key: str
    bucket: str
    expires_in: int
    max_file_size: int
    job_id: str
    status_url: NotRequired[str]
    upload_url: NotRequired[str]
    upload_fields: NotRequired[dict[str, str]]
    part_size: NotRequired[int]
    part_count: NotRequired[int]
    checksum_algorithm: NotRequired[str | None]
    streaming: NotRequired[bool]


class SignedPart(TypedDict):
    part_number: int
    url: str
    headers: dict[str, str]


class SignedParts(TypedDict):
    """`expires_in`: seconds the URLs stay valid from this answer on (a client's own clock may be off; it
    counts from when the answer arrived); `expires_at`: the same moment on the server's clock."""

    parts: list[SignedPart]
    expires_at: str
    expires_in: float


class StoredPart(TypedDict):
    part_number: int
    etag: str
    size: int


class Completion(TypedDict):
    upload_id: str
    s3_key: str
    size: int | None
    status: str
    sha256: str | None


class UploadState(TypedDict):
    upload_id: str
    status: str


class UploadDocument(TypedDict):
    upload_id: str
    id: str
    filename: str
    content_type: str
    declared_size: int
    size: int | None
    s3_key: str
    method: str
    part_size: int | None
    part_count: int | None
    status: str
    is_temp: bool
    error: str | None
    checksum_algorithm: str | None
    sha256: str | None
    streaming: bool
    job_id: str
    created_at: str
    updated_at: str


class DownloadLink(TypedDict):
    url: str
    expires_in: int


class PrefixUse(TypedDict):
    count: int
    bytes: int


class StorageOverview(TypedDict):
    scope: str
    prefixes: dict[str, PrefixUse]
    uploads_by_status: dict[str, int]
    total_bytes: int


class TempSweep(TypedDict):
    deleted_objects: int
    deleted_bytes: int
    aborted_multipart_uploads: int
    kept_in_use: int
    removed_partial_writes: int
    expired_uploads: int


class SpaceFreed(TypedDict):
    freed_bytes: int
    removed_objects: int
    jobs: int
    used_bytes: int


# --- jobs ------------------------------------------------------------------------------------------------


class JobStarted(TypedDict):
    job_id: str
    status: str
    status_url: str


class S3JobStarted(JobStarted):
    """The browser-upload API's answer."""

    message: str


class FormJobStarted(JobStarted):
    """The form-upload API's traditional path: the file went with the form, so its upload is named too."""

    upload_id: str
    s3_key: str
    file_type: str


class BatchMember(TypedDict):
    upload_id: str | None
    job_id: str
    status_url: str


class SelectionStarted(JobStarted):
    """The Lambda batch API: one job over several videos (or uploads, each with a job of its own listed in `jobs`)."""

    results_url: str
    jobs: NotRequired[list[BatchMember]]


class ResultSummary(TypedDict):
    zip_size: int | None
    zip_sha256: str | None


class JobItemDocument(TypedDict):
    item_id: str
    kind: str
    status: str
    progress: int
    s3_key: str | None
    size: int | None
    error: str | None
    error_type: str | None
    metadata: dict[str, Any] | None
    url: NotRequired[str]


class JobDocument(TypedDict):
    job_id: str
    status: str
    progress: int
    upload_id: str | None
    s3_key: str
    options: dict[str, Any]
    items: list[JobItemDocument]
    error: str | None
    created_at: str
    updated_at: str
    status_url: str
    result: NotRequired[ResultSummary]


class JobSummary(TypedDict):
    job_id: str
    status: str
    progress: int
    upload_id: str | None
    s3_key: str
    title: Any
    created_at: str
    updated_at: str
    result: ResultSummary | None


class JobList(TypedDict):
    jobs: list[JobSummary]
    total: int
    limit: int
    offset: int


class ResultsLink(TypedDict):
    url: str
    expires_in: int
    size: int
    sha256: str | None


class OutputLink(TypedDict):
    url: str
    expires_in: int
    size: int
    s3_key: str
    public_url: NotRequired[str]


class OutputDeleted(TypedDict):
    job_id: str
    item_id: str
    status: str
    s3_key: str | None


# --- workers ---------------------------------------------------------------------------------------------


class WorkSource(TypedDict):
    bucket: str
    s3_key: str
    url: NotRequired[str]
    url_expires_in: NotRequired[int]


class WorkItem(TypedDict):
    item_id: str
    kind: str
    status: str
    target_key: str | None


class WorkOrder(TypedDict):
    job_id: str
    status: str
    cancel_requested: bool
    source: WorkSource
    options: dict[str, Any]
    output_prefixes: list[str]
    items: list[WorkItem]


class Callbacks(TypedDict):
    api_base_url: str
    work_order: str
    video_complete: str
    video_failed: str
    finished: str


class DispatchPayload(WorkOrder):
    """A work order handed to a worker elsewhere (a Lambda, a webhook): with where to call back."""

    callbacks: Callbacks


# --- operations ------------------------------------------------------------------------------------------


class Health(TypedDict):
    status: str


class Readiness(TypedDict):
    ready: bool
    checks: dict[str, str]


class ActiveJob(TypedDict):
    job_id: str
    status: str
    progress: int


class JobCounts(TypedDict):
    by_status: dict[str, int]
    active: list[ActiveJob]


class GcCounts(TypedDict):
    counts: list[int]
    tracked_objects: int


class MemoryUse(TypedDict):
    rss_bytes: int
    vms_bytes: int
    threads: int
    gc: GcCounts


class GcDone(TypedDict):
    collected: int
    heap_trimmed: bool
    rss_before_bytes: int
    rss_after_bytes: int


def file_answer(media_type: str, description: str) -> dict[str, Any]:
    """The OpenAPI description of an answer whose body is a file's bytes, not JSON."""
    return {"description": description, "content": {media_type: {"schema": {"type": "string", "format": "binary"}}}}
