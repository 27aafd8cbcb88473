"""Every seed's settings are read (or refused with a sentence at start-up): ENABLE_S3, the separate URL
lifetimes, the seeds' names for the videos prefix, S3_TRANSCRIPTS_PREFIX, AWS_S3_BASE_URL, AWS_S3_BUCKET."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.server.config import load_config
from tests.server.test_jobs import upload
from tests.server.test_seed_clients import wait_for_job
from tests.support.files import make_clip
from tests.support.servers import RunningServer, reeldrop_server

SEED_SETTINGS = {
    "ENABLE_S3": "true",
    "S3_UPLOAD_EXPIRATION": "600",  # seed 003: 10 min to upload, a day to download
    "S3_DOWNLOAD_EXPIRATION": "86400",
    "S3_VIDEO_PREFIX": "clips/",  # seed 003's name
    "S3_TRANSCRIPTS_PREFIX": "texts/",  # seed 001
    "AWS_S3_BASE_URL": "https://cdn.example.com/",  # seed 002
}


@pytest.fixture(scope="module")
def seeded(s3_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with reeldrop_server(s3_endpoint, tmp_path_factory.mktemp("seed-settings"), env=SEED_SETTINGS) as running:
        yield running


def test_upload_and_download_urls_live_as_long_as_each_setting_says(seeded: RunningServer, tmp_path: Path) -> None:
    user = seeded.add_user()
    data = upload(user, make_clip(tmp_path / "clip.mp4", seconds=1, size="160x120"))
    assert data["expires_in"] == 600
    link = user.call("GET", f"/api/upload/{data['upload_id']}/download").json()
    assert (link["expires_in"] == 86400 and "Expires=86400" in link["url"]) or "X-Amz-Expires=86400" in link["url"]


def test_outputs_go_under_the_seeds_prefix_and_carry_their_public_url(seeded: RunningServer, tmp_path: Path) -> None:
    user = seeded.add_user()
    data = upload(user, make_clip(tmp_path / "clip.mp4", seconds=1, size="320x240"))
    options = {"renditions": ["240p"], "audio": False, "clips": {"count": 0}, "thumbnails": 0}
    job = user.call("POST", "/api/jobs", json={"upload_id": data["upload_id"], "options": options}).json()
    doc = wait_for_job(user, f"/api/jobs/{job['job_id']}", timeout=120)
    assert doc["status"] == "completed", doc
    (rendition,) = [i for i in doc["items"] if i["kind"] == "rendition"]
    assert rendition["s3_key"].startswith(f"clips/{job['job_id']}/")
    assert rendition["url"] == f"https://cdn.example.com/{rendition['s3_key']}"
    assert all("url" not in i for i in doc["items"] if not i["s3_key"])  # a step with no file has no link


def test_kept_transcripts_go_under_the_transcripts_prefix(seeded: RunningServer) -> None:
    user = seeded.add_user()
    kept = user.call(
        "POST", "/api/upload/transcript-text?is_temp=false", json={"content": "Hello", "filename": "a.txt"}
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["s3_key"].startswith("texts/")
    temp = user.call("POST", "/api/upload/transcript-text", json={"content": "Hi", "filename": "b.txt"}).json()
    moved = user.call("POST", f"/api/upload/{temp['upload_id']}/move-to-permanent").json()
    assert moved["s3_key"].startswith("texts/")


def test_aws_s3_bucket_alone_means_s3_not_the_built_in_store(tmp_path: Path) -> None:
    # Seed 002 on an IAM role: the bucket is all it sets. Keeping the folder store would lose every file to
    # the wrong place, silently.
    config = load_config({"AWS_S3_BUCKET": "lam-brk", "AWS_S3_VIDEOS_PREFIX": "videos"}, data_dir=tmp_path)
    assert config.storage_dir is None and config.bucket == "lam-brk" and config.videos_prefix == "videos/"


def test_enable_s3_false_keeps_the_folder_store_whatever_else_is_set(tmp_path: Path) -> None:
    config = load_config({"ENABLE_S3": "false", "S3_BUCKET_NAME": "b", "AWS_ACCESS_KEY_ID": "k"}, data_dir=tmp_path)
    assert config.storage_dir == tmp_path / "storage"


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"ENABLE_S3": "true"}, "needs S3_BUCKET_NAME"),
        ({"ENABLE_S3": "maybe"}, "ENABLE_S3 must be true or false"),
        ({"S3_VIDEOS_PREFIX": "videos/", "AWS_S3_VIDEOS_PREFIX": "vids"}, "different values"),
        ({"S3_BUCKET_NAME": "a", "AWS_S3_BUCKET": "b"}, "different values"),
        ({"S3_UPLOAD_EXPIRATION": "0"}, "S3_UPLOAD_EXPIRATION must be a positive"),
        ({"S3_DOWNLOAD_EXPIRATION": "a day"}, "S3_DOWNLOAD_EXPIRATION must be an integer"),
    ],
)
def test_settings_that_cannot_be_followed_stop_the_start_with_a_sentence(env: dict, words: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=words):
        load_config(env, data_dir=tmp_path)


def test_the_same_value_under_two_seeds_names_is_fine_and_lifetimes_are_capped(tmp_path: Path) -> None:
    env = {"S3_VIDEOS_PREFIX": "videos/", "AWS_S3_VIDEOS_PREFIX": "videos", "S3_DOWNLOAD_EXPIRATION": "9999999"}
    config = load_config(env, data_dir=tmp_path)
    assert config.videos_prefix == "videos/" and config.download_expiry == 7 * 24 * 3600
