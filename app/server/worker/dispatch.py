"""Handing a job to a worker elsewhere, as the Lambda batch API runs its Lambda: invoked with the job, it calls back.

With ``LAMBDA_FUNCTION_NAME`` the server invokes that function asynchronously (boto3, InvocationType
"Event") with the job's work order; with ``WORKER_WEBHOOK_URL`` it POSTs the same payload, signed like the
callbacks (X-ReelDrop-Timestamp / X-ReelDrop-Signature over the body, WORKER_SECRET). Either way the payload
is the work order of ``GET /internal/job/{id}``, plus a presigned URL to read the original and the callback
URLs under ``API_BASE_URL`` (where the worker reaches this server). The worker then reports each video and
its end through the signed callbacks (routes/internal.py).

A job that cannot be handed over fails at once, with the reason: it would otherwise wait for callbacks
that never come.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from ..answers import Callbacks, DispatchPayload, WorkOrder
from ..db import Job
from ..signing import sign_headers
from .plan import job_prefixes, plan_items

if TYPE_CHECKING:
    from ..config import ServerConfig
    from ..services import Services

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_S = 15.0
SOURCE_URL_EXPIRY_S = 6 * 3600  # long enough for a worker that queues the job before reading it


class DispatchError(Exception):
    """The job could not be handed to its worker (the message says why, without secrets)."""


class Dispatcher(Protocol):
    def describe(self) -> str: ...

    def send(self, payload: DispatchPayload) -> None:
        """Hand over one job's payload; raises DispatchError when the worker's side refused or was unreachable."""


def work_order(svc: Services, job: Job) -> WorkOrder:
    """What a worker needs to know about a job: its original, options and planned steps with their keys."""
    planned = {p.item_id: p.target_key for p in plan_items(svc.config, job.id, job.s3_key, job.options)}
    return {
        "job_id": job.id,
        "status": job.status,
        "cancel_requested": job.cancel_requested,
        "source": {"bucket": svc.store.bucket, "s3_key": job.s3_key},
        "options": job.options,
        "output_prefixes": list(job_prefixes(svc.config, job.id)),
        "items": [
            {"item_id": i.item_id, "kind": i.kind, "status": i.status, "target_key": planned.get(i.item_id)}
            for i in job.items
        ],
    }


def dispatch_payload(svc: Services, job: Job) -> DispatchPayload:
    """The work order, with what a worker elsewhere needs besides: a URL to read the original, and where to
    call back (it signs those calls with the shared WORKER_SECRET, which is never sent)."""
    base = svc.config.api_base_url.rstrip("/")
    order = work_order(svc, job)
    if job.s3_key:  # (a job over selected videos has no original here: the worker fetches them)
        order["source"]["url"] = svc.store.presigned_get_url(job.s3_key, SOURCE_URL_EXPIRY_S)
        order["source"]["url_expires_in"] = SOURCE_URL_EXPIRY_S
    callbacks: Callbacks = {
        "api_base_url": base,
        "work_order": f"{base}/internal/job/{job.id}",
        "video_complete": f"{base}/internal/job/{job.id}/video-complete",
        "video_failed": f"{base}/internal/job/{job.id}/video-failed",
        "finished": f"{base}/internal/job/{job.id}/finished",
    }
    return DispatchPayload(**order, callbacks=callbacks)


class LambdaDispatcher:
    """Invokes an AWS Lambda function (or anything speaking the Lambda Invoke API) asynchronously."""

    def __init__(self, config: ServerConfig) -> None:
        import boto3
        from botocore.config import Config

        self.function = config.lambda_function_name
        self.client = boto3.client(
            "lambda",
            endpoint_url=config.lambda_endpoint_url or None,
            region_name=config.region,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.secret_access_key,
            config=Config(connect_timeout=5, read_timeout=15, retries={"mode": "standard", "max_attempts": 3}),
        )

    def describe(self) -> str:
        return f"Lambda function {self.function}"

    def send(self, payload: DispatchPayload) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.invoke(
                FunctionName=self.function, InvocationType="Event", Payload=json.dumps(payload).encode()
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise DispatchError(f"Lambda refused the invocation: {error.get('Code')}: {error.get('Message')}") from None
        except BotoCoreError as exc:
            raise DispatchError(f"Lambda could not be reached: {type(exc).__name__}") from None
        if answer.get("StatusCode") != 202:
            raise DispatchError(f"Lambda answered {answer.get('StatusCode')} to an asynchronous invocation, not 202")


class WebhookDispatcher:
    """POSTs the payload, signed with the worker secret, to a URL the operator's worker listens on."""

    def __init__(self, config: ServerConfig) -> None:
        self.url = config.worker_webhook_url
        self.secret = config.worker_secret

    def describe(self) -> str:
        return f"webhook {self.url.split('?', 1)[0]}"

    def send(self, payload: DispatchPayload) -> None:
        import requests  # here, not at the top: the API imports this module, and most servers never POST

        body = json.dumps(payload).encode()
        target = urlsplit(self.url)
        path = target.path + (f"?{target.query}" if target.query else "")
        headers = {"Content-Type": "application/json", **sign_headers(self.secret, body, method="POST", target=path)}
        try:
            answer = requests.post(self.url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT_S)
        except requests.RequestException as exc:
            raise DispatchError(f"the worker's webhook could not be reached: {type(exc).__name__}") from None
        if not answer.ok:
            raise DispatchError(f"the worker's webhook answered {answer.status_code}")


def dispatcher_for(config: ServerConfig) -> Dispatcher | None:
    if config.lambda_function_name:
        return LambdaDispatcher(config)
    if config.worker_webhook_url:
        return WebhookDispatcher(config)
    return None


def hand_over(svc: Services, dispatcher: Dispatcher, job_id: str) -> None:
    """Send a planned job to its worker; a job that cannot be handed over fails now, with the reason."""
    with svc.db.session() as session:
        job = session.get(Job, job_id)
        if job is None or job.status != "pending":
            return
        payload = dispatch_payload(svc, job)
    try:
        dispatcher.send(payload)
    except DispatchError as exc:
        log.warning("job %s: not handed to the %s: %s", job_id, dispatcher.describe(), exc)
        with svc.db.session() as session:
            job = session.get(Job, job_id)
            if job is not None and job.status == "pending":
                job.status, job.progress = "failed", 100
                job.error = f"The job could not be handed to its worker: {exc}."
        return
    log.info("job %s: handed to the %s", job_id, dispatcher.describe())
