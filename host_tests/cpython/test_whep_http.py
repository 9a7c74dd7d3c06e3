"""The WHEP/HTTP server over real loopback sockets, run by MicroPython (esp32 heap) and CPython.

The server answers offers with sdp.create_answer (no PeerConnection): this checks HTTP, CORS,
bounds and the SDP round trip; the session itself is tested end to end elsewhere.
"""

import http.client
import os
import socket
import subprocess
import sys
import time

import pytest

from host_tests.cpython import mpy_tree

import boards  # noqa: E402

_ESP32 = boards.load("esp32")

ROOT = mpy_tree.ROOT
FIXTURES = os.path.join(ROOT, "host_tests", "fixtures")

SERVER = r'''
import asyncio
import boards
from rtc_micro import sdp
from rtc_micro.errors import StateError
from rtc_micro.signaling.whep import WhepServer

profile = boards.load("esp32").derive(max_sessions=2)  # two slots: a third is refused
local = sdp.LocalTransport("devU", "0123456789abcdefghijkl", ":".join(["AB"] * 32),
                           "127.0.0.1", 40000, max_message_size=profile.max_message_size)
sessions = {}

def admit():  # asked before the body is read; on_offer does not check again here
    if len(sessions) >= profile.max_sessions:
        raise StateError("%d sessions already: DELETE one first" % len(sessions))

def on_offer(text):
    answer = sdp.create_answer(sdp.parse(text), local)
    sid = "s%d" % (len(sessions) + 1)
    sessions[sid] = 1
    return sid, answer

def on_delete(sid):
    return sessions.pop(sid, None) is not None

async def main(port):
    srv = WhepServer(profile, on_offer, on_delete, {"/": ("text/html", b"<h1>device</h1>")},
                     admit=admit)
    await srv.start("127.0.0.1", port)
    print("ready")
    if hasattr(sys.stdout, "flush"):
        sys.stdout.flush()
    while True:
        await asyncio.sleep(1)

asyncio.run(main(int(sys.argv[-1])))
'''



@pytest.fixture(params=["micropython", "cpython"])
def server(request):
    if request.param == "micropython":
        code = mpy_tree.prelude(request.getfixturevalue("mpy_dir")) + SERVER
        argv = [mpy_tree.MICROPYTHON, "-X", "heapsize=110k"]
    else:
        code = "import sys\nsys.path.insert(0, %r)\n" % ROOT + SERVER
        argv = [sys.executable]
    port = mpy_tree.free_port()
    proc = subprocess.Popen(argv + ["-c", code, str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line == "ready", line + proc.stdout.read() if proc.poll() is not None else line
        yield port
    finally:
        proc.kill()
        proc.wait()


def _fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def _request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


def test_post_answer_delete(server):
    offer = _fixture("chromium-156-offer-datachannel-audio-video.sdp")
    st, h, body = _request(server, "POST", "/whep", offer, {"Content-Type": "application/sdp"})
    assert st == 201, body
    assert h["location"] == "/whep/s1" and h["content-type"] == "application/sdp"
    assert h["access-control-allow-origin"] == "*"
    assert "Location" in h["access-control-expose-headers"]
    text = body.decode()
    assert "a=ice-lite" in text and "a=group:BUNDLE 0 1 2" in text and "a=setup:active" in text
    assert "a=max-message-size:%d" % _ESP32.max_message_size in text
    trickle = {"Content-Type": "application/trickle-ice-sdpfrag"}
    assert _request(server, "PATCH", "/whep/s1", b"x", trickle)[0] == 405
    assert _request(server, "DELETE", "/whep/s1")[0] == 200
    assert _request(server, "DELETE", "/whep/s1")[0] == 404


def test_preflight_and_page(server):
    st, h, _ = _request(server, "OPTIONS", "/whep", None, {
        "Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert st == 204
    assert "POST" in h["access-control-allow-methods"]
    assert "Content-Type" in h["access-control-allow-headers"]
    st, h, body = _request(server, "GET", "/")
    assert st == 200 and body == b"<h1>device</h1>" and h["content-type"] == "text/html"


def test_bad_requests_get_reasons(server):
    audio_only = b"v=0\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n"
    sdp_type = {"Content-Type": "application/sdp"}
    st, _, body = _request(server, "POST", "/whep", audio_only, sdp_type)
    assert st == 400 and b"no m=application" in body
    st, _, body = _request(server, "POST", "/whep", b"v=0\r\n", {"Content-Type": "text/plain"})
    assert st == 415 and b"application/sdp" in body
    # esp32 profile: http_max_request is 8 KiB.
    st, _, body = _request(server, "POST", "/whep", b"v" * 9000,
                           {"Content-Type": "application/sdp"})
    assert st == 413 and b"8192" in body
    s = socket.create_connection(("127.0.0.1", server), timeout=5)
    s.sendall(b"GARBAGE\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 400 ")
    s.close()
    s = socket.create_connection(("127.0.0.1", server), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"a" * 9000 + b"\r\n\r\n")
    assert s.recv(100).startswith(b"HTTP/1.1 431 ")
    s.close()
    assert _request(server, "GET", "/whep")[0] == 405  # still serving


def test_sessions_and_connections_are_bounded(server):
    offer = _fixture("chromium-156-offer-datachannel.sdp")
    sdp_type = {"Content-Type": "application/sdp"}
    for _ in range(2):
        assert _request(server, "POST", "/whep", offer, sdp_type)[0] == 201
    st, h, body = _request(server, "POST", "/whep", offer, sdp_type)
    assert st == 503 and b"DELETE one first" in body and "retry-after" in h
    # Refused before the body is read (admit): a body that is no offer at all gets the same
    # answer, not a 400 from parsing it; the 7 KB body is read and dropped, not left to reset
    # the connection under the answer.
    big = _fixture("chromium-156-offer-datachannel-audio-video.sdp").replace(b"v=0", b"x=0", 1)
    for _ in range(3):
        st, _, body = _request(server, "POST", "/whep", big, sdp_type)
        assert st == 503 and b"DELETE one first" in body
    # esp32 profile: 2 connections at once; a third is refused while two sit idle.
    idle = [socket.create_connection(("127.0.0.1", server), timeout=5) for _ in range(2)]
    try:
        time.sleep(0.2)
        st, _, body = _request(server, "GET", "/")
        assert st == 503 and b"too many connections" in body
    finally:
        for s in idle:
            s.close()
    time.sleep(0.2)
    assert _request(server, "GET", "/")[0] == 200


def test_client_side_post_offer_and_delete(server):
    """whep.post_offer / whep.request (what examples/rtc_client.py uses) against the server."""
    import asyncio

    from rtc_micro.signaling import whep

    async def run():
        offer = _fixture("chromium-156-offer-datachannel.sdp")
        location, answer = await whep.post_offer("127.0.0.1", server, offer)
        assert location == "/whep/s1" and answer.startswith("v=0\r\n") and "a=ice-lite" in answer
        assert (await whep.request("127.0.0.1", server, "DELETE", location))[0] == 200
        try:
            await whep.post_offer("127.0.0.1", server, "v=0\r\nnot sdp\r\n")
        except whep.HttpError as e:
            assert e.status == 400 and "answered 400" in e.reason and "not sdp" in e.reason
        else:
            raise AssertionError("a bad offer was accepted")
        try:
            await whep.post_offer("127.0.0.1", server, offer, max_bytes=100)
        except whep.HttpError as e:
            assert e.status == 502  # the answer is larger than the client takes
        else:
            raise AssertionError("max_bytes was not enforced")

    asyncio.run(run())
