"""Browsers (seed 003's JS client): CORS_ORIGINS lets named pages call the API and the folder store, and
S3_APPLY_BUCKET_CORS sets the bucket's rule for uploads straight to S3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from app.server.config import load_config
from tests.server.test_processing import s3_client
from tests.support.servers import RunningServer, folder_store_server, reeldrop_server

PAGE = "https://studio.example.com"


@pytest.fixture(scope="module")
def browser_server(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"CORS_ORIGINS": f"{PAGE}, http://localhost:5173", "S3_APPLY_BUCKET_CORS": "true"}
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("cors"), env=env) as running:
        yield running


def preflight(url: str, origin: str, method: str = "POST", headers: str = "authorization,content-type"):
    return requests.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
        timeout=10,
    )


def test_a_named_page_may_call_the_api_and_others_may_not(browser_server: RunningServer) -> None:
    url = f"{browser_server.url}/process/video/upload/s3/presigned-url"
    allowed = preflight(url, PAGE)
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == PAGE
    assert "authorization" in allowed.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in allowed.headers  # bearer tokens, no cookies
    refused = preflight(url, "https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in refused.headers
    user = browser_server.add_user()
    answer = requests.get(f"{browser_server.url}/api/me", headers={**user.headers, "Origin": PAGE}, timeout=10)
    assert answer.ok and answer.headers["Access-Control-Allow-Origin"] == PAGE


def test_the_bucket_rule_is_set_for_browser_uploads_and_keeps_the_operators_own(
    s3_endpoint: str, browser_server: RunningServer, tmp_path: Path
) -> None:
    s3 = s3_client(s3_endpoint)
    bucket = browser_server.services.config.bucket
    (rule,) = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert set(rule["AllowedOrigins"]) == {PAGE, "http://localhost:5173"}
    assert {"POST", "PUT", "GET"} <= set(rule["AllowedMethods"]) and rule["ExposeHeaders"] == ["ETag"]
    # A rule of the operator's survives the next start; ours is replaced, not added twice.
    theirs = {"ID": "operator-cdn", "AllowedOrigins": ["https://cdn.example.com"], "AllowedMethods": ["GET"]}
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [theirs, rule]})
    browser_server.services.store.put_cors([PAGE])  # what the next start does
    ids = [r.get("ID") for r in s3.get_bucket_cors(Bucket=bucket)["CORSRules"]]
    assert sorted(ids) == ["operator-cdn", "reeldrop-browser-uploads"]


def test_the_folder_store_answers_a_browser_upload_preflight(tmp_path: Path) -> None:
    env = {"CORS_ORIGINS": PAGE, "S3_APPLY_BUCKET_CORS": "true"}
    with folder_store_server(tmp_path / "server", env=env) as running:
        user = running.add_user()
        body = {"filename": "clip.mp4", "file_size": 1000, "content_type": "video/mp4"}
        form = user.call("POST", "/api/upload/presigned-url", json=body).json()
        answer = preflight(form["upload_url"], PAGE, headers="content-type")
        assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == PAGE
        # The page's upload itself: allowed to its origin (a part's answer shows the page its ETag).
        files = {"file": ("clip.mp4", b"\0" * 1000, "video/mp4")}
        posted = requests.post(form["upload_url"], data=form["upload_fields"], files=files, headers={"Origin": PAGE})
        assert posted.status_code == 204 and posted.headers["Access-Control-Allow-Origin"] == PAGE
        assert "etag" in posted.headers["Access-Control-Expose-Headers"].lower()


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"CORS_ORIGINS": "studio.example.com"}, "not an origin"),
        ({"CORS_ORIGINS": "https://studio.example.com/app"}, "no path"),
        ({"CORS_ORIGINS": "ftp://studio.example.com"}, "not an origin"),
    ],
)
def test_an_origin_that_is_not_one_stops_the_start_with_a_sentence(env: dict, words: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=words):
        load_config(env, data_dir=tmp_path)


def test_bucket_cors_without_origins_stops_the_start(s3_endpoint: str, tmp_path: Path) -> None:
    settings = {"S3_APPLY_BUCKET_CORS": "true"}
    with pytest.raises(ValueError, match="needs CORS_ORIGINS"), reeldrop_server(s3_endpoint, tmp_path, env=settings):
        pass
