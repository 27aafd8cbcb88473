"""`reeldrop-server`: run the reference backend, manage users."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from pathlib import Path

from app import __version__

from .config import ServerConfig, load_config
from .installed import missing_server_packages, server_missing_sentence

log = logging.getLogger("app.server")


def _config(args: argparse.Namespace) -> ServerConfig:
    import os

    env = dict(os.environ)
    if getattr(args, "storage", None):
        env["REELDROP_STORAGE_DIR"] = args.storage
    if getattr(args, "public_url", None):
        env["REELDROP_PUBLIC_URL"] = args.public_url
    return load_config(env, data_dir=Path(args.data_dir) if args.data_dir else None)


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The AWS SDK's debug output carries signatures and presigned queries: never below INFO.
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, logging.getLogger(noisy).level))
    try:
        from app.core.logsafe import install_redaction

        install_redaction()
    except ImportError:  # pragma: no cover - logsafe ships with the app
        pass


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .malloc_arenas import limit_malloc_arenas

    limit_malloc_arenas()  # before uvicorn's and the worker's threads: memory flat under long uploads

    from .app import build_services, close_services, create_app, set_public_url
    from .http_limits import uvicorn_options

    config = _config(args)
    if args.external_workers:
        config = config.with_overrides(external_workers=True)
    services = build_services(config)
    try:
        app = create_app(services)
        url = f"http://{args.host}:{args.port}"
        set_public_url(services, url)
        if config.storage_dir is not None and args.host in ("0.0.0.0", "::") and not config.public_url:
            log.warning("objects are served from %s: set --public-url to the address clients reach", url)
        print(f"ReelDrop server {__version__} serving on {url}  (API docs: {url}/docs)", flush=True)
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=args.access_log,
            **uvicorn_options(config),
        )
    finally:
        close_services(services)
    return 0


def worker(args: argparse.Namespace) -> int:
    """A standalone worker: consumes the job queue until SIGINT/SIGTERM, on this host or any other."""
    from .app import build_services, close_services
    from .worker.lease import worker_name
    from .worker.queue import HueyJobQueue, describe_queue

    config = _config(args)
    if config.storage_dir is not None and not args.storage and not config.storage_dir.is_dir():
        print(
            f"error: a standalone worker needs the server's object store: no storage folder at {config.storage_dir}."
            " Give the server's --storage DIR (on this machine), or S3_ENDPOINT_URL, S3_BUCKET_NAME,"
            " AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            file=sys.stderr,
        )
        return 2
    if not config.queue_url:
        log.warning(
            "no QUEUE_URL: this worker consumes the SQLite queue in %s, which only a server started with the "
            "same --data-dir feeds; set QUEUE_URL=redis://... for workers on other machines",
            config.data_dir,
        )
    extra = dict(config.extra)
    if args.threads is not None:
        extra["REELDROP_WORKER_THREADS"] = str(args.threads)
    config = config.with_overrides(external_workers=False, run_worker=True, extra=extra)
    services = build_services(config)
    try:
        queue = services.queue
        assert isinstance(queue, HueyJobQueue)
        print(
            f"ReelDrop worker {worker_name()} ready: {queue.settings.threads} thread(s) on {describe_queue(config)}",
            flush=True,
        )
        queue.run_forever()
    finally:
        close_services(services)
    return 0


def create_user(args: argparse.Namespace) -> int:
    from .auth import create_user as add_user
    from .db import Database
    from .private_files import private_database_file, private_dir

    config = _config(args)
    private_dir(config.data_dir)
    if args.password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {args.name}: ")
        if getpass.getpass("Repeat it: ") != password:
            print("error: the passwords differ", file=sys.stderr)
            return 2
    db = Database(config.database_url)
    db.create_all()
    private_database_file(db)
    try:
        with db.session() as session:
            quota = args.quota if args.quota is not None else config.default_quota_bytes
            add_user(session, args.name, password, quota, args.admin)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.dispose()
    print(f"user {args.name} created{' (admin)' if args.admin else ''}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reeldrop-server", description="The ReelDrop reference backend.")
    parser.add_argument("--version", action="version", version=f"reeldrop-server {__version__}")
    parser.add_argument("--data-dir", help="where the SQLite database and work files live")
    parser.add_argument(
        "--storage",
        metavar="DIR",
        help="keep the objects in this folder (default without S3 settings: <data dir>/storage); URLs are signed"
        " by this server",
    )
    parser.add_argument("--public-url", help="the address clients reach this server at (for --storage URLs)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("serve", help="run the server (the default)")
    for target in (parser, run):
        target.add_argument("--host", default="127.0.0.1")
        target.add_argument("--port", type=int, default=8000)
        target.add_argument("--external-workers", action="store_true", help="run no built-in worker")
        target.add_argument("--access-log", action="store_true", help="log every request line")

    work = sub.add_parser("worker", help="run a standalone worker (QUEUE_URL, DATABASE_URL and S3 as the server's)")
    work.add_argument("--threads", type=int, help="jobs run at once (default REELDROP_WORKER_THREADS or 2)")

    user = sub.add_parser("create-user", help="create a user (password prompted, or read from stdin)")
    user.add_argument("name")
    user.add_argument("--admin", action="store_true")
    user.add_argument("--quota", type=int, help="quota in bytes")
    user.add_argument("--password-stdin", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    missing = missing_server_packages()
    if missing:
        print(f"reeldrop-server: {server_missing_sentence('The ReelDrop server', missing)}", file=sys.stderr)
        return 1
    _setup_logging(args.log_level)
    if args.command == "create-user":
        return create_user(args)
    if args.command == "worker":
        return worker(args)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
