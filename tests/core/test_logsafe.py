"""No presigned-URL signature, credential or bearer token reaches a log (RELIABILITY test 19)."""

from __future__ import annotations

import io
import json
import logging
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import requests
from botocore.config import Config

from app.core.logsafe import REDACTED, RedactingFilter, install_redaction, redact

ACCESS_KEY = "AKIAREELDROPTEST0001"
SECRET_KEY = "reeldrop-test-secret-key-0123456789abcdef"


@pytest.fixture
def debug_log():
    """Root logger at DEBUG into a buffer, with redaction installed; everything restored afterwards."""
    root = logging.getLogger()
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    install_redaction()
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for filterer in (root, *root.handlers):
            for f in [f for f in filterer.filters if isinstance(f, RedactingFilter)]:
                filterer.removeFilter(f)


def s3_client(endpoint: str, signature_version: str, session_token: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        aws_session_token=session_token,
        config=Config(signature_version=signature_version),
    )


def secrets_of(url: str) -> list[str]:
    """The values in a presigned URL that must never be logged."""
    query = parse_qs(urlsplit(url).query)
    keys = ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token", "Signature", "AWSAccessKeyId")
    values = [v for key in keys for v in query.get(key, [])]
    assert values, f"boto3 produced no signing parameters in {url!r}"
    return values


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_presigned_url_post_form_and_bearer_are_redacted(debug_log, signature_version):
    session_token = f"FwoGZXIvYXdzE{secrets.token_hex(16)}"
    bearer = secrets.token_urlsafe(32)
    s3 = s3_client("http://127.0.0.1:9", signature_version, session_token)
    url = s3.generate_presigned_url(
        "upload_part",
        Params={"Bucket": "media", "Key": "u/42/clip.mp4", "UploadId": "upl-1", "PartNumber": 37},
        ExpiresIn=900,
    )
    form = s3.generate_presigned_post("media", "u/42/small.mp4", ExpiresIn=900)
    log = logging.getLogger("app.core.transfer.test")

    log.debug("PUT part 37 -> %s", url)
    log.debug("presigned POST %s", form)
    log.debug("POST form as JSON %s", json.dumps(form))
    log.debug("GET /api/me headers={'Authorization': 'Bearer %s', 'Accept': 'application/json'}", bearer)
    log.debug("Authorization: Bearer %s", bearer)
    log.info("login answered %s", json.dumps({"access_token": bearer, "token_type": "bearer"}))

    text = debug_log.getvalue()
    leaked = [s for s in (*secrets_of(url), ACCESS_KEY, session_token, bearer, form["fields"]["policy"]) if s in text]
    assert leaked == []
    for name in (
        "X-Amz-Signature",
        "X-Amz-Credential",
        "X-Amz-Security-Token",
        "Signature=",
        "AWSAccessKeyId",
    ):
        assert name not in text
    # What a reader needs is still there.
    assert "PUT part 37 -> http://127.0.0.1:9/media/u/42/clip.mp4?<redacted>" in text
    assert "'key': 'u/42/small.mp4'" in text
    assert '"token_type": "bearer"' in text
    assert text.count(REDACTED) >= 6


class _DeniedHandler(BaseHTTPRequestHandler):
    """Answers every upload with S3's expired-signature error, and the login with a token."""

    token = ""

    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
        self.send_response(403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = json.dumps({"access_token": self.token, "token_type": "bearer", "expires_in": 3600}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # keep the test output quiet
        pass


@pytest.fixture
def local_server():
    _DeniedHandler.token = secrets.token_urlsafe(32)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _DeniedHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_full_debug_log_of_a_failed_upload_leaks_nothing(debug_log, local_server):
    base = f"http://127.0.0.1:{local_server.server_address[1]}"
    session_token = f"IQoJb3JpZ2luX2Vj{secrets.token_hex(16)}"
    log = logging.getLogger("app.core.pipeline.test")
    with requests.Session() as session:
        # Login: the server's answer carries the bearer token; the client then sends it on every call.
        answer = session.post(f"{base}/api/auth/token", json={"username": "ann", "password": "pw"}, timeout=10)
        token = answer.json()["access_token"]
        log.debug("login response: %s", answer.text)
        session.headers["Authorization"] = f"Bearer {token}"
        log.debug("session headers: %s", dict(session.headers))

        # botocore logs its canonical request and signature while presigning, urllib3 logs the request
        # line, and the 403 becomes an HTTPError whose message holds the full URL.
        url = s3_client(base, "s3v4", session_token).generate_presigned_url(
            "put_object", Params={"Bucket": "media", "Key": "u/1/clip.mp4"}, ExpiresIn=60
        )
        response = requests.put(url, data=b"x" * 1024, timeout=10)
        try:
            response.raise_for_status()
        except requests.HTTPError:
            log.exception("upload of clip.mp4 failed")

    text = debug_log.getvalue()
    assert "botocore.auth" in text and "urllib3.connectionpool" in text and "HTTPError: 403" in text
    assert '"PUT /media/u/1/clip.mp4?<redacted> HTTP/1.1" 403' in text
    leaked = [s for s in (*secrets_of(url), ACCESS_KEY, SECRET_KEY, session_token, token) if s in text]
    assert leaked == []
    for name in ("X-Amz-Signature", "X-Amz-Credential", "X-Amz-Security-Token"):
        assert name not in text


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "GET https://example.com/search?q=cats&page=2 200",
            "GET https://example.com/search?q=cats&page=2 200",
        ),
        ("token_type is bearer; 12 parts left", "token_type is bearer; 12 parts left"),
        ("Calculating signature using v4 auth.", "Calculating signature using v4 auth."),
        (
            "HEAD https://media.s3.eu-west-1.amazonaws.com/u/1/a.mp4?uploadId=Xyz&partNumber=2",
            "HEAD https://media.s3.eu-west-1.amazonaws.com/u/1/a.mp4?<redacted>",
        ),
        (
            "callback https://api.test/hook?access_token=abc123 ok",
            "callback https://api.test/hook?<redacted> ok",
        ),
        (
            "grant_type=password&access_token=abc123&scope=x",
            "grant_type=password&access_token=<redacted>&scope=x",
        ),
        (
            '{"access_token": "abc123", "expires_in": 3600}',
            '{"access_token": "<redacted>", "expires_in": 3600}',
        ),
        ("authorization: Basic YWxhZGRpbjpvcGVu", "authorization: <redacted>"),
        ("curl -H 'Authorization: Bearer abc.def-ghi'", "curl -H 'Authorization: <redacted>'"),
        ("retrying with bearer abc123def", "retrying with bearer <redacted>"),
        ("{'password': 'hunter2', 'user': 'ann'}", "{'password': '<redacted>', 'user': 'ann'}"),
        ("Signature:\n0123abcd", "<redacted>"),
    ],
)
def test_redact_keeps_ordinary_text_and_removes_secrets(line, expected):
    assert redact(line) == expected


def test_install_redaction_covers_child_loggers_once(debug_log):
    root = logging.getLogger()
    again = install_redaction()
    assert sum(isinstance(f, RedactingFilter) for f in root.filters) == 1
    assert all(sum(isinstance(f, RedactingFilter) for f in h.filters) == 1 for h in root.handlers)
    assert again in root.filters
    # A record from a deep child logger only meets the handler's filter on its way up.
    logging.getLogger("app.server.routes.uploads").warning("denied %s", "Bearer sekrit-token-value")
    assert "sekrit-token-value" not in debug_log.getvalue()
    assert "denied Bearer <redacted>" in debug_log.getvalue()


def test_long_lines_are_handled(debug_log):
    blob = "A" * 200_000  # e.g. a base64 body logged by mistake: must not stall the logger
    line = f"{blob} https://h.test/x?X-Amz-Signature=deadbeef {blob}?"
    assert redact(line) == f"{blob} https://h.test/x?<redacted> {blob}?"
