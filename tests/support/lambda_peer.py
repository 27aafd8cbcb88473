"""A worker elsewhere, over real HTTP: an endpoint speaking the Lambda Invoke API (and a plain webhook) that
then plays seed 000's Lambda: it reads the original through the URL it was given, stores a transcript per
video in S3 and reports them through the signed callbacks, the last one with "last": true."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import requests

from app.server.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, Scheme, SignatureError, sign_headers, verify

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


@dataclass
class Invocation:
    via: str  # "lambda" or "webhook"
    function: str | None
    invocation_type: str | None
    payload: dict[str, Any]


@dataclass
class WorkerPeer:
    url: str
    secret: str
    store_output: Callable[[str, bytes], None]  # (key, bytes) -> stored in the bucket, as the Lambda's IAM does
    refuse_with: int | None = None  # answer every call with this status instead
    invocations: list[Invocation] = field(default_factory=list)
    reports: list[requests.Response] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)

    def play(self, payload: dict[str, Any]) -> None:
        """Seed 000's Lambda: one transcript per video under its own user123/{job}/ layout, then the callbacks."""
        try:
            job_id = payload["job_id"]
            selected = [i["item_id"] for i in payload["items"] if i["kind"] == "video"]
            if selected:  # a job over selected videos (/channel/download/selected): "fetched" by the worker
                videos = [(video_id, f"Transcript of {video_id}") for video_id in selected]
            else:  # a job on an upload: the worker reads the original through the URL it was given
                source = requests.get(payload["source"]["url"], timeout=30)
                source.raise_for_status()
                videos = [("dQw4w9WgXcQ", f"Transcript of {len(source.content)} bytes"), ("second", "Another one")]
            for index, (video_id, text) in enumerate(videos):
                report: dict[str, Any] = {"job_id": job_id, "video_id": video_id}
                if video_id.startswith("missing"):  # a video with no transcript: the seed's failure report
                    report.update(error="No transcript available", error_type="TranscriptNotFound")
                    event = "video_failed"
                else:
                    key = f"user123/{job_id}/{video_id}.txt"
                    self.store_output(key, text.encode("utf-8"))
                    report.update(s3_key=key, transcript_length=len(text))
                    event = "video_complete"
                if index == len(videos) - 1 and not selected:
                    report["last"] = True  # only the worker knows it made no more (a selection ends by itself)
                body = json.dumps(report).encode()
                url = payload["callbacks"][event]
                # The route is signed too (v2): the call is good for this job's callback only.
                signed = sign_headers(self.secret, body, method="POST", target=urlsplit(url).path)
                headers = {"Content-Type": "application/json", **signed}
                answer = requests.post(url, data=body, headers=headers, timeout=30)
                self.reports.append(answer)
        except Exception as exc:  # seen by the test, which fails with it
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            self.done.set()


@contextmanager
def worker_peer(secret: str, store_output: Callable[[str, bytes], None]) -> Iterator[WorkerPeer]:
    peer: WorkerPeer

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet in the test output
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if peer.refuse_with is not None:
                self._answer(peer.refuse_with, b'{"Message": "refused by the test"}')
                return
            matched = INVOKE_PATH.match(self.path)
            if matched:
                invocation = Invocation(
                    "lambda", matched["name"], self.headers.get("X-Amz-Invocation-Type"), json.loads(body)
                )
                status = 202  # what Lambda answers an asynchronous ("Event") invocation
            elif self.path == "/webhook":
                try:
                    timestamp, signed = self.headers.get(TIMESTAMP_HEADER), self.headers.get(SIGNATURE_HEADER)
                    scheme = verify(secret, timestamp, signed, body, method="POST", target=self.path)
                    if scheme is not Scheme.V2:
                        raise SignatureError("the server signs its work orders with their route")
                except SignatureError:
                    self._answer(401, b"{}")
                    return
                invocation = Invocation("webhook", None, None, json.loads(body))
                status = 202
            else:
                self._answer(404, b"{}")
                return
            peer.invocations.append(invocation)
            self._answer(status, b"")
            threading.Thread(target=peer.play, args=(invocation.payload,), daemon=True).start()

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    peer = WorkerPeer(f"http://127.0.0.1:{server.server_address[1]}", secret, store_output)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        server.shutdown()
        server.server_close()
