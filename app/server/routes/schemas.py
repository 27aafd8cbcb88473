"""Request bodies. Unknown fields are ignored so older clients (the README's Compatibility table) keep working."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, model_validator

# Integers a client sends are bounded where they are declared: an unbounded one reaches the database (whose
# integers are 64-bit) or arithmetic as an overflow, a 500, instead of a clear 422.
MAX_BYTES = 5 * 1024**4  # S3's largest object, 5 TiB
MAX_COUNT = 2**31 - 1


class PresignRequest(BaseModel):
    filename: str = Field(max_length=1024)
    file_size: int = Field(le=MAX_BYTES)
    content_type: str | None = Field(default=None, max_length=255)
    part_size: int | None = Field(default=None, le=MAX_BYTES, description="preferred multipart part size in bytes")
    checksum_algorithm: Literal["CRC32C"] | None = Field(
        default=None, description="per-part checksum S3 must verify on every multipart part"
    )
    streaming: bool = Field(
        default=False,
        description="the file is still being written (compress-while-upload): file_size is an upper bound, "
        "the upload is always multipart, and complete gives the real size",
    )
    # Strict: "yes", 1 or null is a client bug, answered 422, rather than silently read as true or false.
    resumable: StrictBool = Field(
        default=False,
        description="the client wants an upload it can resume part by part: multipart for any file_size above "
        "S3's 5 MiB minimum part, even under the server's POST threshold. Servers that predate the field "
        "ignore it and answer by size (POST at or under S3_MULTIPART_THRESHOLD)",
    )


class PartRequest(BaseModel):
    part_number: int = Field(le=MAX_COUNT)
    content_md5: str | None = Field(default=None, pattern=r"^[A-Za-z0-9+/]{22}==$")
    checksum_crc32c: str | None = Field(default=None, pattern=r"^[A-Za-z0-9+/]{6}==$")
    content_length: int | None = Field(
        default=None,
        ge=1,
        le=MAX_BYTES,
        description="the part's exact size: signed into its URL, which then takes no other (a lead part of a "
        "file still being written may leave it out)",
    )


class PartsRequest(BaseModel):
    parts: list[PartRequest] = Field(min_length=1, max_length=1000)


class CompletedPart(BaseModel):
    part_number: int = Field(le=MAX_COUNT)
    etag: str = Field(max_length=256)
    checksum_crc32c: str | None = Field(default=None, pattern=r"^[A-Za-z0-9+/]{6}==$")


class CompleteRequest(BaseModel):
    parts: list[CompletedPart] = Field(default_factory=list, max_length=10_000)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    size: int | None = Field(
        default=None, le=MAX_BYTES, description="the file's size in bytes; required for a streaming upload"
    )


class TranscriptText(BaseModel):
    content: str = Field(min_length=1, max_length=10 * 1024 * 1024)
    filename: str = "transcript.txt"


class CreateJobRequest(BaseModel):
    """Our shape ({upload_id, options}), the form-upload API's ({job_id, s3_key, num_segments, ...}) and the
    transcript API's ({title, description, voice, tags, video_upload_id, transcript_upload_id})."""

    upload_id: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    video_upload_id: str | None = Field(default=None, description="the transcript API's name for upload_id")
    transcript_upload_id: str | None = Field(
        default=None, description="a text upload (txt, srt, vtt) that goes with the video and ships in the ZIP"
    )
    title: str | None = Field(default=None, max_length=5000)
    description: str | None = Field(default=None, max_length=5000)
    voice: str | None = Field(default=None, max_length=64, description="stored and echoed; nothing is spoken")
    tags: list[Annotated[str, Field(max_length=100)]] | None = Field(default=None, max_length=50)
    job_id: str | None = None
    s3_key: str | None = None
    file_type: str | None = None
    num_segments: int | None = Field(default=None, ge=0, le=100)
    delete_after_processing: bool | None = None


class SelectedVideos(BaseModel):
    """The Lambda batch API: one job over several videos, each fetched and processed by the external worker it is handed
    to (``video_ids``), or over several of the caller's uploads, each processed like a job of its own
    (``upload_ids``, with ``options`` for every one). Exactly one of the two."""

    video_ids: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]] | None = Field(
        default=None, min_length=1, max_length=1000
    )
    upload_ids: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, min_length=1, max_length=100)
    options: dict[str, Any] = Field(default_factory=dict, description="job options for each upload (upload_ids)")
    channel_id: str | None = Field(default=None, max_length=256, description="stored and shown; not interpreted")
    title: str | None = Field(default=None, max_length=5000)

    @model_validator(mode="after")
    def _one_kind_of_selection(self) -> SelectedVideos:
        if (self.video_ids is None) == (self.upload_ids is None):
            raise ValueError("give either video_ids (an external worker fetches them) or upload_ids, not both")
        return self


class ProcessS3Request(BaseModel):
    """The browser-upload API's shape."""

    s3_key: str = Field(max_length=1024)
    frame_skip: int | None = Field(default=None, ge=0, le=MAX_COUNT)
    min_confidence: float | None = Field(default=None, ge=0, le=1, allow_inf_nan=False)
    delete_after_processing: bool | None = None


class LoginRequest(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class FreeSpaceRequest(BaseModel):
    keep_job_ids: list[str] = Field(
        default_factory=list,
        max_length=100_000,
        description="finished jobs whose files stay (the app lists the ones whose results it has not saved yet)",
    )
