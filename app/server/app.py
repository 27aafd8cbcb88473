"""Builds the running server: services (DB, S3, queue) and the FastAPI application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import __version__

from .body_guard import BodyGuard
from .config import ServerConfig
from .db import Database
from .errors import ERROR_RESPONSES, install_error_handlers
from .options_answer import OptionsAnswer
from .private_files import private_database_file, private_dir
from .routes import auth, internal, jobs, ops, outputs, results, space, storage, upload_extras, uploads
from .services import JobQueue, Services
from .storage import ObjectStore, S3Store

log = logging.getLogger(__name__)


def build_services(config: ServerConfig) -> Services:
    """Connect to the store and the database. Called once per process, never at import."""
    private_dir(config.data_dir)
    closers = []
    store: ObjectStore
    if config.storage_dir is not None:
        from .file_store import FileStore
        from .url_signing import UrlSigner

        private_dir(config.storage_dir)  # everyone's uploads and results

        secret = config.storage_secret.encode("utf-8") if config.storage_secret else None
        store = FileStore(config.storage_dir, UrlSigner(secret), base_url=config.public_url, bucket=config.bucket)
    else:
        store = S3Store(
            config.bucket,
            endpoint_url=config.s3_endpoint_url,
            region=config.region,
            access_key_id=config.access_key_id,
            secret_access_key=config.secret_access_key,
        )
        log.info("object store: S3 at %s, bucket %s", config.s3_endpoint_url or "AWS", config.bucket)
    store.ensure_bucket()
    if config.apply_bucket_cors:
        _apply_bucket_cors(store, config)
    db = Database(config.database_url)
    db.create_all()
    private_database_file(db)
    closers.append(db.dispose)
    log.info("database: %s", _describe_db(config.database_url))
    services = Services(config=config, db=db, store=store, queue=None, closers=closers)  # type: ignore[arg-type]
    closers.append(lambda: services.hashing.shutdown(wait=False, cancel_futures=True))
    services.queue = _build_queue(services)
    return services


def _build_queue(services: Services) -> JobQueue:
    from .worker.queue import ExternalJobQueue, HueyJobQueue, describe_queue
    from .worker.settings import WorkerSettings

    config = services.config
    settings = WorkerSettings.from_config(config)  # a bad setting stops the start, with its name
    if config.external_workers:
        from .worker.dispatch import dispatcher_for

        if not config.worker_secret:
            raise ValueError("--external-workers needs WORKER_SECRET: the workers sign their callbacks with it")
        if config.lambda_function_name and config.worker_webhook_url:
            raise ValueError("LAMBDA_FUNCTION_NAME and WORKER_WEBHOOK_URL both hand jobs over: set one of them")
        if (config.lambda_function_name or config.worker_webhook_url) and not config.api_base_url:
            raise ValueError(
                "LAMBDA_FUNCTION_NAME or WORKER_WEBHOOK_URL needs API_BASE_URL: the worker calls back there"
            )
        dispatcher = dispatcher_for(config)
        handed = f"; each job is handed to the {dispatcher.describe()}" if dispatcher else ""
        log.info("queue: external workers (no built-in worker); callbacks finish the jobs%s", handed)
        return ExternalJobQueue(services, dispatcher)
    log.info("queue: %s", describe_queue(config))
    return HueyJobQueue(services, settings)


def _apply_bucket_cors(store: ObjectStore, config: ServerConfig) -> None:
    if not config.cors_origins:
        raise ValueError("S3_APPLY_BUCKET_CORS needs CORS_ORIGINS: the pages allowed to upload from a browser")
    if not isinstance(store, S3Store):
        log.info("S3_APPLY_BUCKET_CORS: the folder store answers CORS itself (CORS_ORIGINS); no bucket rule to set")
        return
    store.put_cors(list(config.cors_origins))
    log.info("bucket %s: CORS rule set for %s", config.bucket, ", ".join(config.cors_origins))


def _describe_db(url: str) -> str:
    if url.startswith("sqlite"):
        return f"SQLite file {url.removeprefix('sqlite:///')}"
    return url.split("://", 1)[0] + " (credentials hidden)"


def set_public_url(services: Services, url: str) -> None:
    """Where this server listens, once it does: the FileStore's URLs point there unless a public URL was set."""
    from .file_store import FileStore

    if isinstance(services.store, FileStore) and not services.config.public_url:
        services.store.base_url = url.rstrip("/")


def close_services(services: Services) -> None:
    for close in reversed(services.closers):
        try:
            close()
        except Exception:
            log.warning("error while shutting down", exc_info=True)


def create_app(services: Services) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        from .cleanup import TempSweeper
        from .retention import RetentionSweeper
        from .worker.queue import HueyJobQueue
        from .worker.settings import WorkerSettings
        from .worker.takeover import StaleJobSweeper

        if services.config.run_worker and not services.config.external_workers:
            services.queue.start()
        interval_s = WorkerSettings.from_config(services.config).sweep_interval_s
        sweepers: list[TempSweeper | StaleJobSweeper | RetentionSweeper] = [TempSweeper(services, interval_s)]
        if services.config.results_retention_days > 0:
            sweepers.append(RetentionSweeper(services, services.config.results_retention_days, interval_s))
        if isinstance(services.queue, HueyJobQueue):  # also without a worker here: the workers may be elsewhere
            sweepers.append(services.queue.stale_job_sweeper())
        for sweeper in sweepers:
            sweeper.start()
        try:
            yield
        finally:
            for sweeper in sweepers:
                sweeper.stop()
            services.queue.stop()

    app = FastAPI(
        title="ReelDrop backend",
        version=__version__,
        description="Presigned S3 uploads, processing jobs and result ZIPs for the ReelDrop desktop app.",
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    app.add_middleware(BodyGuard, services=services)  # inside CORS: its refusals carry the CORS headers too
    app.add_middleware(OptionsAnswer)
    if services.config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        # Bearer tokens, no cookies: no credentials mode. ETag is exposed so a page can complete multipart
        # uploads to the folder store; the headers are those a presigned part or POST may carry.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(services.config.cors_origins),
            allow_methods=["GET", "HEAD", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Content-MD5", "x-amz-checksum-crc32c"],
            expose_headers=["ETag"],
            max_age=600,
        )
    for module in (ops, auth, upload_extras, uploads, jobs, results, outputs, internal, space, storage):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    return app
