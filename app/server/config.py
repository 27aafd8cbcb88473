"""Server configuration, read from the environment (names from the source documents) and CLI flags."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

MIB = 1024 * 1024
GIB = 1024 * MIB

# S3 settings whose presence means "use that store" rather than a folder (the FileStore).
# Any of these means "my objects are in S3" (AWS_S3_BUCKET alone: the renditions-bucket layout on an IAM role, no keys).
_S3_SETTING_NAMES = ("S3_ENDPOINT_URL", "S3_BUCKET_NAME", "AWS_S3_BUCKET", "AWS_ACCESS_KEY_ID")
_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flag(env: dict[str, str], name: str) -> bool | None:
    """A yes/no setting: None when unset; a value that is neither stops the start with a sentence."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return None
    if raw in _YES or raw in _NO:
        return raw in _YES
    raise ValueError(f"{name} must be true or false, got {env[name]!r}")


def _first_of(env: dict[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    """The one value several clients' names for a setting give: (name, value); two different values refuse."""
    given = [(name, env[name].strip()) for name in names if env.get(name, "").strip()]
    if len({value.strip("/") for _, value in given}) > 1:
        listed = ", ".join(f"{name}={value!r}" for name, value in given)
        raise ValueError(f"{listed} name one setting with different values: keep one")
    return given[0] if given else None


def _seconds(env: dict[str, str], name: str, default: int) -> int:
    """A presigned URL's lifetime: positive, and at most 7 days (S3 refuses more)."""
    value = _env_int(env, name, default)
    if value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds")
    return min(value, 7 * 24 * 3600)


def _env_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _origins(env: dict[str, str]) -> tuple[str, ...]:
    """CORS_ORIGINS: comma-separated "scheme://host[:port]" (as a browser sends Origin), or "*"."""
    origins = tuple(o.strip().rstrip("/") for o in env.get("CORS_ORIGINS", "").split(",") if o.strip())
    for origin in origins:
        scheme, _, rest = origin.partition("://")
        if origin != "*" and (scheme not in ("http", "https") or not rest or "/" in rest):
            raise ValueError(
                f"CORS_ORIGINS: {origin!r} is not an origin; write it as a browser sends it, like "
                "https://app.example.com or http://localhost:5173 (no path), or * for any"
            )
    return origins


def _prefix(env: dict[str, str], name: str, default: str) -> str:
    value = env.get(name, default).strip().lstrip("/")
    return value if value.endswith("/") else value + "/"


@dataclass(frozen=True)
class ServerConfig:
    data_dir: Path
    bucket: str = "reeldrop"
    s3_endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None
    storage_dir: Path | None = None
    """The FileStore's folder; None when the objects live in S3. "This computer": <data dir>/storage."""
    storage_secret: str = ""
    """Signs the FileStore's URLs; empty = a random key per process (a restart invalidates old URLs)."""
    public_url: str = ""
    """Where clients reach this server, for the FileStore's URLs; empty = the address it listens on."""
    temp_prefix: str = "temp/"
    videos_prefix: str = "videos/"
    processed_prefix: str = "processed/"
    results_prefix: str = "results/"
    presigned_expiry: int = 3600
    """Lifetime of upload URLs (POST forms, part PUTs): S3_UPLOAD_EXPIRATION, else S3_PRESIGNED_URL_EXPIRY."""
    download_expiry: int = 3600
    """Lifetime of download URLs (originals, results): S3_DOWNLOAD_EXPIRATION, else S3_PRESIGNED_URL_EXPIRY."""
    transcripts_prefix: str = "transcripts/"
    public_base_url: str = ""
    """AWS_S3_BASE_URL (the renditions-bucket layout): where the bucket is public, outputs carry base_url/key
    as their `url`."""
    multipart_threshold: int = 100 * MIB
    cleanup_temp_hours: int = 24
    results_retention_days: int = 0
    """A finished job's results, outputs and original are removed this many days later; 0 keeps them."""
    max_file_size: int = 50 * GIB
    default_quota_bytes: int = 200 * GIB
    token_ttl_seconds: int = 30 * 24 * 3600
    database_url: str = ""
    queue_url: str | None = None
    worker_secret: str = ""
    external_workers: bool = False
    lambda_function_name: str = ""
    """The Lambda batch API: each job is handed to this AWS Lambda function (asynchronous invocation); no
    worker here."""
    lambda_endpoint_url: str = ""
    """Another endpoint speaking the Lambda Invoke API (LocalStack, a test peer); empty = AWS."""
    worker_webhook_url: str = ""
    """Each job's payload is POSTed here, signed with WORKER_SECRET; no worker here."""
    api_base_url: str = ""
    """Where a worker elsewhere reaches this server for its callbacks (the Lambda batch API's API_BASE_URL)."""
    cors_origins: tuple[str, ...] = ()
    """Web pages (origins) whose scripts may call the API and the folder store (the browser-upload API's JS client)."""
    apply_bucket_cors: bool = False
    """At start, set the bucket's CORS rule for browser uploads from cors_origins (S3 only)."""
    keep_processed: bool = True
    """KEEP_PROCESSED=false: once a job's results ZIP is stored, its separate outputs are deleted (the ZIP
    keeps every one); true keeps them for links and downloads one by one."""
    post_uploads: bool = True
    """S3_POST_UPLOADS=false: no presigned POST forms, every upload goes in parts (one part for a small file),
    for stores that refuse browser-style POST uploads (rclone serve s3). The older clients need the form."""
    trust_worker_keys: bool = False
    """Workers may report outputs anywhere but under temp/ (the batch API's Lambda writes user123/job456/…);
    otherwise only under the job's own prefixes (videos/{job}/, processed/{job}/)."""
    head_timeout_s: float = 20.0
    """REELDROP_HEADER_TIMEOUT: a request head must arrive within this (slow clients are cut off)."""
    body_idle_timeout_s: float = 60.0
    """REELDROP_BODY_IDLE_TIMEOUT: longest pause inside a request body."""
    max_connections: int = 2048
    """REELDROP_MAX_CONNECTIONS: connections (or requests) served at once; past it, 503."""
    max_pending_uploads: int = 200
    """REELDROP_MAX_PENDING_UPLOADS: open (presigned, not completed) uploads one user may hold (429 past it)."""
    max_active_jobs: int = 50
    """REELDROP_MAX_ACTIVE_JOBS: pending or processing jobs one user may have (429 past it)."""
    run_worker: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "reeldrop-server.sqlite3"

    @property
    def file_storage(self) -> bool:
        return self.storage_dir is not None

    def with_overrides(self, **changes: object) -> ServerConfig:
        return replace(self, **changes)  # type: ignore[arg-type]


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("ReelDrop", appauthor=False)) / "server"


def load_config(env: dict[str, str] | None = None, data_dir: Path | None = None) -> ServerConfig:
    env = dict(os.environ if env is None else env)
    data_dir = Path(data_dir or env.get("REELDROP_SERVER_DATA") or default_data_dir())
    enable_s3 = _flag(env, "ENABLE_S3")  # the browser-upload API: S3 on or off, whatever else is set
    uses_s3 = any(env.get(name) for name in _S3_SETTING_NAMES) if enable_s3 is None else enable_s3
    bucket = _first_of(env, ("S3_BUCKET_NAME", "AWS_S3_BUCKET"))
    if enable_s3 and bucket is None:
        raise ValueError("ENABLE_S3=true needs S3_BUCKET_NAME (or AWS_S3_BUCKET): the bucket to keep the files in")
    storage_dir: Path | None = None
    if env.get("REELDROP_STORAGE_DIR"):
        if uses_s3:
            raise ValueError("REELDROP_STORAGE_DIR (--storage) and the S3 settings exclude each other: choose one")
        storage_dir = Path(env["REELDROP_STORAGE_DIR"]).expanduser()
    elif not uses_s3:
        storage_dir = data_dir / "storage"  # (ENABLE_S3=false: the folder store, the S3 settings unused)
    # Lifetimes of presigned URLs: one for both (S3_PRESIGNED_URL_EXPIRY), or the browser-upload API's separate ones.
    expiry = _seconds(env, "S3_PRESIGNED_URL_EXPIRY", 3600)
    upload_expiry = _seconds(env, "S3_UPLOAD_EXPIRATION", expiry)
    download_expiry = _seconds(env, "S3_DOWNLOAD_EXPIRATION", expiry)
    videos = _first_of(env, ("S3_VIDEOS_PREFIX", "S3_VIDEO_PREFIX", "AWS_S3_VIDEOS_PREFIX"))
    threshold = _env_int(env, "S3_MULTIPART_THRESHOLD", 100 * MIB)
    # A single POST carries at most 5 GB (S3), and multipart parts are at least 5 MiB.
    threshold = max(5 * MIB, min(threshold, 5 * 1000**3))
    database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'reeldrop-server.sqlite3'}"
    from app.server.worker.settings import ENV_NAMES as WORKER_SETTINGS  # (it imports this module)

    return ServerConfig(
        data_dir=data_dir,
        bucket=bucket[1] if bucket else "reeldrop",
        s3_endpoint_url=env.get("S3_ENDPOINT_URL") or None,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        storage_dir=storage_dir,
        storage_secret=env.get("REELDROP_STORAGE_SECRET", ""),
        public_url=(env.get("REELDROP_PUBLIC_URL") or "").rstrip("/"),
        temp_prefix=_prefix(env, "S3_TEMP_PREFIX", "temp/"),
        videos_prefix=_prefix({"prefix": videos[1]} if videos else {}, "prefix", "videos/"),
        transcripts_prefix=_prefix(env, "S3_TRANSCRIPTS_PREFIX", "transcripts/"),
        processed_prefix=_prefix(env, "S3_PROCESSED_PREFIX", "processed/"),
        results_prefix=_prefix(env, "S3_RESULTS_PREFIX", "results/"),
        presigned_expiry=upload_expiry,
        download_expiry=download_expiry,
        public_base_url=(env.get("AWS_S3_BASE_URL") or "").strip().rstrip("/"),
        multipart_threshold=threshold,
        cleanup_temp_hours=_env_int(env, "S3_CLEANUP_TEMP_HOURS", 24),
        results_retention_days=max(0, _env_int(env, "REELDROP_RESULTS_RETENTION_DAYS", 0)),
        max_file_size=_env_int(env, "MAX_FILE_SIZE", 50 * GIB),
        default_quota_bytes=_env_int(env, "REELDROP_DEFAULT_QUOTA", 200 * GIB),
        token_ttl_seconds=_env_int(env, "REELDROP_TOKEN_TTL", 30 * 24 * 3600),
        head_timeout_s=max(1, _env_int(env, "REELDROP_HEADER_TIMEOUT", 20)),
        body_idle_timeout_s=max(1, _env_int(env, "REELDROP_BODY_IDLE_TIMEOUT", 60)),
        max_connections=max(16, _env_int(env, "REELDROP_MAX_CONNECTIONS", 2048)),
        max_pending_uploads=max(1, _env_int(env, "REELDROP_MAX_PENDING_UPLOADS", 200)),
        max_active_jobs=max(1, _env_int(env, "REELDROP_MAX_ACTIVE_JOBS", 50)),
        database_url=database_url,
        queue_url=env.get("QUEUE_URL") or None,
        worker_secret=env.get("WORKER_SECRET", ""),
        # A job handed to a Lambda or a webhook is worked on there: no worker of ours takes it too.
        external_workers=env.get("REELDROP_EXTERNAL_WORKERS", "") in ("1", "true", "yes")
        or bool(env.get("LAMBDA_FUNCTION_NAME") or env.get("WORKER_WEBHOOK_URL")),
        lambda_function_name=env.get("LAMBDA_FUNCTION_NAME", ""),
        lambda_endpoint_url=env.get("LAMBDA_ENDPOINT_URL", ""),
        worker_webhook_url=env.get("WORKER_WEBHOOK_URL", ""),
        api_base_url=(env.get("API_BASE_URL") or "").rstrip("/"),
        trust_worker_keys=env.get("TRUST_WORKER_KEYS", "") in ("1", "true", "yes"),
        cors_origins=_origins(env),
        keep_processed=_flag(env, "KEEP_PROCESSED") is not False,
        post_uploads=_flag(env, "S3_POST_UPLOADS") is not False,
        apply_bucket_cors=env.get("S3_APPLY_BUCKET_CORS", "") in ("1", "true", "yes"),
        # The worker's own settings (worker/settings.py) come from this environment only, through here.
        extra={name: value for name, value in env.items() if name in WORKER_SETTINGS},
    )
