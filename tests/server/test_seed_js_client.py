"""Seed 003's browser client, run as written: its JavaScript (fetch, FormData, a File) in Node, whose fetch and
FormData are the browser's APIs (WHATWG, undici), with only the host and an Authorization header added; then
its curl steps 3 and 4, at the seed's own size (187 MB). No browser runs here, so CORS, which only a browser
enforces, is tested on its own (test_cors.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.server.test_seed_clients import SEED_003_FILE_SIZE, clip_of_size, no_multipart_upload_left
from tests.support.servers import RunningServer, User

NODE = shutil.which("node")

# The seed's snippet (003, "Using JavaScript (Browser)"), byte for byte but for the two marked edits.
SEED_003_JS = """\
// Step 1: Get presigned URL
const presignedResponse = await fetch(HOST + '/process/video/upload/s3/presigned-url', {
  method: 'POST',
  headers: { 'Content-Type': 'application/json', 'Authorization': AUTH },
  body: JSON.stringify({
    filename: 'traffic_video.mp4',
    file_size: videoFile.size
  })
});
const { upload_url, upload_fields, s3_key } = await presignedResponse.json();

// Step 2: Upload to S3
const formData = new FormData();
Object.entries(upload_fields).forEach(([key, value]) => {
  formData.append(key, value);
});
formData.append('file', videoFile);

const uploadResponse = await fetch(upload_url, {
  method: 'POST',
  body: formData
});

console.log('Uploaded to S3:', s3_key);
"""

# What a page gives the snippet: the host it was served from, the signed-in user's header, and the File the
# user picked (Node 20 reads it from disk as a browser does; Node 18, Debian 12's, holds it in memory).
PAGE = """\
import fs from 'node:fs';
const HOST = process.env.SEED_HOST, AUTH = process.env.SEED_AUTH;
const path = process.env.SEED_FILE;
const blob = fs.openAsBlob ? await fs.openAsBlob(path, { type: 'video/mp4' })
                           : new Blob([fs.readFileSync(path)], { type: 'video/mp4' });
const FileOfThePage = globalThis.File ?? (await import('node:buffer')).File;  // a global from Node 20 on
const videoFile = new FileOfThePage([blob], 'traffic_video.mp4', { type: 'video/mp4' });
"""
REPORT = "console.log(JSON.stringify({ upload_status: uploadResponse.status, s3_key }));\n"


def _curl(*args: str) -> dict:
    curl = shutil.which("curl")
    assert curl, "curl is part of the test environment"
    done = subprocess.run([curl, "-sS", "--max-time", "60", *args], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.skipif(NODE is None, reason="Node.js runs the seed's browser snippet (.ci/run installs nodejs)")
def test_seed_003_browser_snippet_and_its_curl_steps_at_the_seeds_size(
    server: RunningServer, user: User, tmp_path: Path
) -> None:
    clip = clip_of_size(tmp_path / "traffic_video.mp4", SEED_003_FILE_SIZE)
    script = tmp_path / "seed_003.mjs"
    script.write_text(PAGE + SEED_003_JS + REPORT)
    env = {"SEED_HOST": server.url, "SEED_AUTH": f"Bearer {user.token}", "SEED_FILE": str(clip), "PATH": "/usr/bin"}
    assert NODE is not None
    ran = subprocess.run([NODE, str(script)], capture_output=True, text=True, timeout=300, env=env, check=False)
    assert ran.returncode == 0, ran.stderr
    printed, report = ran.stdout.splitlines()[0], json.loads(ran.stdout.splitlines()[-1])
    assert printed.startswith("Uploaded to S3: temp/") and report["upload_status"] == 204, ran.stdout

    # Step 3 and 4: the seed's curl commands, with the key the snippet printed and the same header.
    auth = ["-H", f"Authorization: Bearer {user.token}"]
    body = {"s3_key": report["s3_key"], "frame_skip": 2, "min_confidence": 0.3, "delete_after_processing": True}
    started = _curl(
        "-X", "POST", f"{server.url}/process/video/s3", "-H", "Content-Type: application/json", *auth,
        "-d", json.dumps(body),
    )  # fmt: skip
    assert started["status"] == "pending" and started["message"].startswith(
        "Video processing job created from S3 (187.00MB)"
    ), started
    deadline, doc = time.monotonic() + 120, started
    while doc["status"] not in ("completed", "partial", "failed", "cancelled") and time.monotonic() < deadline:
        time.sleep(0.3)
        doc = _curl(f"{server.url}{started['status_url']}", *auth)
    assert doc["status"] == "completed", doc
    assert no_multipart_upload_left(server, report["s3_key"])  # the multipart plan the snippet ignored is aborted
