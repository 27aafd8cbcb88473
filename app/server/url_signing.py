"""Presigned URLs and POST policies of the FileStore, signed and checked by this server (HMAC-SHA256).

A URL grants one method on one key until its expiry, and nothing else: the signature covers the method,
the exact key, the expiry, the multipart upload id and part number, the largest body it accepts, the
Content-MD5 / x-amz-checksum-crc32c headers the client must send, and a GET's Content-Disposition. A POST
policy is S3's: base64 JSON of an expiration and conditions (the exact key, the content type, the
metadata, a content-length range), signed; every form field must be one of its conditions.

The key is random for each server process unless REELDROP_STORAGE_SECRET gives one (several server
processes on one storage folder must share it). A URL from before a restart is then refused as
expired-or-forged, and the client asks for a new one — as it does for an expired S3 URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EXPIRES = "X-RD-Expires"
SIGNATURE = "X-RD-Signature"
MAX_SIZE = "X-RD-Max-Size"
UPLOAD_ID = "uploadId"
PART_NUMBER = "partNumber"
DISPOSITION = "response-content-disposition"
POLICY_SIGNATURE_FIELD = "x-rd-signature"
# Form fields S3 leaves out of the policy's conditions.
_UNCONDITIONED = frozenset({"policy", POLICY_SIGNATURE_FIELD, "file", "success_action_status"})


class Refusal(Exception):
    """Why a signed request is refused, in S3's terms (the client reads 403 + "expired" as "sign again")."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def _expired() -> Refusal:
    return Refusal(403, "AccessDenied", "Request has expired")


def _forged() -> Refusal:
    return Refusal(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the one given.")


@dataclass(frozen=True)
class SignedRequest:
    """What a verified URL allows."""

    method: str
    key: str
    upload_id: str
    part_number: int
    max_size: int
    content_md5: str
    checksum_crc32c: str
    disposition: str


class UrlSigner:
    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def _mac(self, *fields: str) -> str:
        message = "\n".join(fields).encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    # -- URLs ------------------------------------------------------------------------------------
    def sign_request(
        self,
        method: str,
        key: str,
        expires_in: int,
        *,
        upload_id: str = "",
        part_number: str = "",
        max_size: str = "",
        content_md5: str = "",
        checksum_crc32c: str = "",
        disposition: str = "",
    ) -> dict[str, str]:
        """The query string of a URL for ``method`` on ``key`` (headers it needs are signed, not sent)."""
        expires = str(int(time.time()) + expires_in)
        query = {
            name: value
            for name, value in (
                (UPLOAD_ID, upload_id),
                (PART_NUMBER, part_number),
                (MAX_SIZE, max_size),
                (DISPOSITION, disposition),
            )
            if value
        }
        query[EXPIRES] = expires
        query[SIGNATURE] = self._mac(
            method, key, expires, upload_id, part_number, max_size, content_md5, checksum_crc32c, disposition
        )
        return query

    def verify_request(
        self, method: str, key: str, query: Mapping[str, str], headers: Mapping[str, str]
    ) -> SignedRequest:
        """Raises Refusal unless the URL was signed here, for this method and key, and has not expired."""
        expires, given = query.get(EXPIRES, ""), query.get(SIGNATURE, "")
        if not expires.isdigit() or not given:
            raise Refusal(403, "AccessDenied", "This URL is not signed.")
        upload_id, part_number = query.get(UPLOAD_ID, ""), query.get(PART_NUMBER, "")
        max_size, disposition = query.get(MAX_SIZE, ""), query.get(DISPOSITION, "")
        content_md5 = headers.get("content-md5", "") if method == "PUT" else ""
        crc32c = headers.get("x-amz-checksum-crc32c", "") if method == "PUT" else ""
        wanted = self._mac(method, key, expires, upload_id, part_number, max_size, content_md5, crc32c, disposition)
        if not hmac.compare_digest(wanted, given):
            raise _forged()
        if int(expires) < time.time():
            raise _expired()  # checked after the signature: a forged URL learns nothing about expiry
        return SignedRequest(
            method,
            key,
            upload_id,
            int(part_number) if part_number.isdigit() else 0,
            int(max_size) if max_size.isdigit() else 0,
            content_md5,
            crc32c,
            disposition,
        )

    # -- POST policies ---------------------------------------------------------------------------
    def post_policy(self, fields: Mapping[str, str], max_size: int, expires_in: int) -> dict[str, str]:
        """The ``policy`` and signature form fields for a POST of exactly these fields and 1..max_size bytes."""
        expiration = datetime.now(UTC) + timedelta(seconds=expires_in)
        conditions: list[object] = [{name: value} for name, value in fields.items()]
        conditions.append(["content-length-range", 1, max_size])
        document = {"expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"), "conditions": conditions}
        policy = base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode("ascii")
        return {"policy": policy, POLICY_SIGNATURE_FIELD: self._mac("POST", policy)}

    def verify_post(self, fields: Mapping[str, str]) -> int:
        """Checks a POST's form fields against its signed policy; returns the largest file it may carry."""
        policy, given = fields.get("policy", ""), fields.get(POLICY_SIGNATURE_FIELD, "")
        if not policy or not given:
            raise Refusal(403, "AccessDenied", "This form has no signed policy.")
        if not hmac.compare_digest(self._mac("POST", policy), given):
            raise _forged()
        document = json.loads(base64.b64decode(policy))
        expiration = datetime.strptime(document["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if expiration < datetime.now(UTC):
            raise Refusal(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        max_size = 0
        conditioned: set[str] = set()
        for condition in document["conditions"]:
            if isinstance(condition, list):
                max_size = int(condition[2])
                continue
            ((name, value),) = condition.items()
            conditioned.add(name.lower())
            if fields.get(name) != value:
                raise Refusal(403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {name}")
        extra = [name for name in fields if name.lower() not in conditioned and name.lower() not in _UNCONDITIONED]
        if extra:
            raise Refusal(403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {extra[0]}")
        return max_size
