from __future__ import annotations

import hashlib
import os
import socket
import threading

import pytest
import requests

from tests.support.faultproxy import EXPIRED_XML, SLOW_DOWN_XML, FaultProxy
from tests.support.proxy_fixtures import proxy, server  # noqa: F401 (fixtures)

MiB = 1024 * 1024


def put(proxy: FaultProxy, path: str, body: bytes, **kwargs) -> requests.Response:
    return requests.put(proxy.url + path, data=body, timeout=10, **kwargs)


def test_traffic_passes_through_unchanged_on_kept_alive_connections(proxy, server):
    body = os.urandom(3 * MiB)
    with requests.Session() as session:
        for _ in range(3):
            assert session.put(proxy.url + "/k", data=body, timeout=10).status_code == 200
        response = session.get(proxy.url + "/bytes/200000", timeout=10)
    assert response.content == bytes(index % 251 for index in range(200000))
    assert [item.body for item in server.received[:3]] == [body] * 3
    assert proxy.connections == 1
    assert [(r.method, r.target, r.faults) for r in proxy.requests] == [("PUT", "/k", [])] * 3 + [
        ("GET", "/bytes/200000", [])
    ]
    assert proxy.requests[0].body_bytes_forwarded == 3 * MiB


def test_cut_after_n_bytes_once(proxy, server):
    proxy.cut_after(MiB)
    body = os.urandom(4 * MiB)
    with pytest.raises(requests.ConnectionError):
        put(proxy, "/first", body)
    assert put(proxy, "/second", body).status_code == 200
    assert proxy.fired == {"cut": 1}
    first = proxy.requests[0]
    head_length = MiB - first.body_bytes_forwarded
    assert 0 < head_length < 1000  # exactly N bytes left, head included
    assert [item.path for item in server.received if item.status == 200] == ["/second"]


def test_cut_only_the_nth_connection(proxy, server):
    outcomes = []
    proxy.cut_after(100, connection=2)
    for index in range(3):
        try:
            outcomes.append(put(proxy, f"/{index}", b"x" * 5000).status_code)
        except requests.ConnectionError:
            outcomes.append("cut")
    assert outcomes == [200, "cut", 200]
    assert proxy.connections == 3


def test_cut_only_the_matching_request(proxy):
    proxy.cut_after(10, match=b"partNumber=2&")
    assert put(proxy, "/k?partNumber=1&uploadId=u", b"a" * 100).status_code == 200
    with pytest.raises(requests.ConnectionError):
        put(proxy, "/k?partNumber=2&uploadId=u", b"a" * 100)
    assert put(proxy, "/k?partNumber=2&uploadId=u", b"a" * 100).status_code == 200


def test_a_request_shorter_than_the_cut_leaves_it_armed(proxy):
    proxy.cut_after(50_000)
    assert put(proxy, "/small", b"a" * 100).status_code == 200
    with pytest.raises(requests.ConnectionError):
        put(proxy, "/big", b"a" * 100_000)


def test_canned_slow_down_answers_the_next_k_requests(proxy, server):
    proxy.slow_down(count=2)
    body = os.urandom(4 * MiB)  # a large body is read and dropped, so the client sees the answer
    answers = [put(proxy, "/k", body) for _ in range(3)]
    assert [answer.status_code for answer in answers] == [503, 503, 200]
    assert answers[0].content == SLOW_DOWN_XML
    assert answers[0].headers["Content-Type"] == "application/xml"
    assert len(server.received) == 1  # the answered requests never reached the server
    assert proxy.fired == {"respond 503": 2}


def test_any_canned_answer_for_matching_requests(proxy, server):
    proxy.respond(403, EXPIRED_XML, match=b"partNumber=7", count=5)
    assert put(proxy, "/k?partNumber=1", b"a").status_code == 200
    expired = put(proxy, "/k?partNumber=7", b"a")
    assert expired.status_code == 403 and b"Request has expired" in expired.content
    assert [item.path for item in server.received] == ["/k?partNumber=1"]


def test_flip_one_byte_of_the_body(proxy, server):
    body = os.urandom(2 * MiB)
    proxy.flip_byte(MiB + 3)
    assert put(proxy, "/k", body).status_code == 200
    assert put(proxy, "/k", body).status_code == 200
    corrupted, intact = server.received[0].body, server.received[1].body
    assert intact == body
    differing = [index for index in range(len(body)) if corrupted[index] != body[index]]
    assert differing == [MiB + 3]
    assert corrupted[MiB + 3] == body[MiB + 3] ^ 0xFF


def test_stall_holds_a_request_then_lets_it_through(proxy, server):
    proxy.stall(30)
    with pytest.raises(requests.Timeout):
        requests.get(proxy.url + "/bytes/10", timeout=(5, 0.3))
    assert server.received == []  # nothing was forwarded while stalled
    proxy.release_stalls()
    assert proxy.fired == {"stall": 1}
    proxy.stall(0.05, after_bytes=10)  # a short stall ends by itself
    assert requests.get(proxy.url + "/bytes/10", timeout=10).status_code == 200


def test_faults_can_be_armed_while_a_request_is_in_flight(proxy):
    proxy.stall(30, after_bytes=1000)
    errors = []

    def upload() -> None:
        try:
            put(proxy, "/k", b"z" * (2 * MiB))
        except requests.ConnectionError as error:
            errors.append(error)

    thread = threading.Thread(target=upload)
    thread.start()
    assert proxy.wait_for_requests(1)
    # While the request is held at byte 1000, arm a cut further on, then let it go.
    proxy.cut_after(5000)
    for _ in range(100):
        if proxy.fired.get("stall"):
            break
        threading.Event().wait(0.05)
    proxy.release_stalls()
    thread.join(30)
    assert not thread.is_alive()
    assert len(errors) == 1
    assert proxy.requests[0].faults == ["stall", "cut"]


def test_latency_and_bandwidth_are_applied_and_accounted(proxy, server):
    proxy.set_latency(0.01)
    proxy.set_bandwidth(4 * MiB)
    body = os.urandom(MiB)
    assert put(proxy, "/k", body).status_code == 200
    assert server.received[0].sha256 == hashlib.sha256(body).hexdigest()
    assert proxy.latency_waits == 2  # before the request, and before its response
    upstream_bytes = len(body) + 100  # body plus a head of a few dozen bytes
    assert proxy.paced_seconds >= len(body) / (4 * MiB)
    assert proxy.paced_seconds <= (upstream_bytes + 1000) / (4 * MiB)
    proxy.clear()
    assert put(proxy, "/k", body).status_code == 200
    assert proxy.latency_waits == 2


def test_chunked_requests_are_forwarded_as_they_are(proxy):
    response = requests.put(proxy.url + "/k", data=iter([b"a" * 10, b"b" * 10]), timeout=10)
    assert response.status_code == 411  # the server (like S3) wants Content-Length


def test_an_unreachable_upstream_closes_the_client_connection():
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    with FaultProxy(("127.0.0.1", port)) as proxy, pytest.raises(requests.ConnectionError):
        requests.get(proxy.url + "/", timeout=5)


def test_close_ends_every_thread_even_mid_stall(server):
    proxy = FaultProxy(server.address).start()
    proxy.stall(600)
    failures = []

    def stuck() -> None:
        try:
            put(proxy, "/k", b"a" * 1000)
        except requests.RequestException as error:
            failures.append(error)

    thread = threading.Thread(target=stuck)
    thread.start()
    assert proxy.wait_for_requests(1)
    proxy.close()
    thread.join(30)
    assert not thread.is_alive()
    assert len(failures) == 1
    assert proxy.alive_threads == 0
