"""The WHEP/HTTP server's request handling without sockets (rtc_micro/signaling/whep.py).

Sockets and both runtimes end to end: host_tests/cpython/test_whep_http.py.
"""

import boards
from host_tests.support import raises
from rtc_micro.errors import ConfigError, StateError
from rtc_micro.signaling import whep

_PROFILE = boards.load("esp32")


class _Device:
    def __init__(self):
        self.sessions = {}
        self.full = False

    def on_offer(self, text):
        if self.full:
            raise StateError("2 sessions already: close one first")
        if "m=application" not in text:
            raise ConfigError("offer has no m=application UDP/DTLS/SCTP section")
        sid = "s%d" % (len(self.sessions) + 1)
        self.sessions[sid] = text
        return sid, "v=0\r\n"

    def on_delete(self, sid):
        return self.sessions.pop(sid, None) is not None


def _server():
    d = _Device()
    s = whep.WhepServer(_PROFILE, d.on_offer, d.on_delete,
                        pages={"/": ("text/html", b"<html></html>")})
    return d, s


def _req(method, path, body=b"", ctype="application/sdp"):
    headers = {"content-type": ctype, "content-length": str(len(body))}
    r = whep.Request(method, path, headers)
    r.body = body
    return r


def _status(out):
    return int(out[9:12])


def _bytes(out):
    head, body = out
    return bytes(head) + (body.encode() if isinstance(body, str) else body)


def _call(server, req):
    """dispatch() as the connection handler sees it: HttpError becomes its response."""
    try:
        return _bytes(server.dispatch(req))
    except whep.HttpError as e:
        return _bytes(whep.response(e.status, e.reason.encode(), "text/plain", e.headers))


def test_request_line_and_headers():
    assert whep.pull_request_line("POST /whep?x=1 HTTP/1.1") == ("POST", "/whep")
    for bad in ("GET", "GET /a", "GET a HTTP/1.1", "GET / FTP/1", "A B C D"):
        assert raises(whep.HttpError, whep.pull_request_line, bad).status == 400
    h = {}
    whep.pull_header("Content-Type:  application/sdp ", h)
    assert h == {"content-type": "application/sdp"}
    assert raises(whep.HttpError, whep.pull_header, "no colon", h).status == 400
    assert raises(whep.HttpError, whep.pull_header, ": empty name", h).status == 400


def test_content_length_bounds():
    r = whep.Request("POST", "/whep", {"content-length": "5000"})
    e = raises(whep.HttpError, r.content_length, 4000, 4096)
    assert e.status == 413 and "4096" in e.reason
    assert whep.Request("POST", "/", {"content-length": "12"}).content_length(12, 99) == 12
    assert raises(whep.HttpError, whep.Request("POST", "/", {"content-length": "-1"})
                  .content_length, 10, 10).status == 400
    assert raises(whep.HttpError, whep.Request("POST", "/", {"transfer-encoding": "chunked"})
                  .content_length, 10, 10).status == 411
    assert whep.Request("GET", "/", {}).content_length(10, 10) == 0


def test_post_delete_patch_options():
    d, s = _server()
    out = _call(s, _req("POST", "/whep", b"v=0\r\nm=application 9 UDP/DTLS/SCTP x\r\n"))
    assert _status(out) == 201
    assert b"\r\nLocation: /whep/s1\r\n" in out
    assert b"\r\nContent-Type: application/sdp\r\n" in out
    assert b"Access-Control-Expose-Headers: Location\r\n" in out
    assert b"Access-Control-Allow-Origin: *\r\n" in out
    assert out.endswith(b"\r\n\r\nv=0\r\n")
    assert _status(_call(s, _req("PATCH", "/whep/s1"))) == 405
    assert _status(_call(s, _req("DELETE", "/whep/s1"))) == 200
    assert "s1" not in d.sessions
    assert _status(_call(s, _req("DELETE", "/whep/s1"))) == 404
    pre = _call(s, _req("OPTIONS", "/whep"))
    assert _status(pre) == 204 and b"Access-Control-Allow-Methods: GET, POST, DELETE" in pre
    assert b"Access-Control-Allow-Headers: Content-Type" in pre


def test_bad_offers_get_4xx_with_reason():
    d, s = _server()
    out = _call(s, _req("POST", "/whep", b"v=0\r\nm=audio 9 RTP/AVP 0\r\n"))
    assert _status(out) == 400 and b"no m=application" in out
    assert _status(_call(s, _req("POST", "/whep", b"v=0", "text/plain"))) == 415
    assert _status(_call(s, _req("POST", "/whep", b""))) == 400
    assert _status(_call(s, _req("POST", "/whep", b"\xff\xfe"))) == 400
    assert _status(_call(s, _req("GET", "/whep"))) == 405
    assert _status(_call(s, _req("GET", "/nothing"))) == 404
    d.full = True
    out = _call(s, _req("POST", "/whep", b"v=0\r\nm=application 9 UDP/DTLS/SCTP x\r\n"))
    assert _status(out) == 503 and b"Retry-After" in out and b"sessions already" in out


def test_an_answer_that_cannot_be_sent_ends_its_session():
    """Short of heap for the 201 response after on_offer accepted: the MemoryError reaches the
    connection handler (503) and the session is deleted, not left waiting for checks."""
    d, s = _server()
    real = whep.response

    def no_heap(*args):
        raise MemoryError("memory allocation failed")

    whep.response = no_heap
    try:
        assert raises(MemoryError, s.dispatch,
                      _req("POST", "/whep", b"v=0\r\nm=application 9 UDP/DTLS/SCTP x\r\n"))
    finally:
        whep.response = real
    assert d.sessions == {}


def test_a_text_body_is_sent_as_is_and_counted_in_bytes():
    """An SDP answer goes out as the text it is (encoded a piece at a time when sent, no second
    copy of it in the heap); Content-Length counts UTF-8 bytes, not characters."""
    text = "v=0\r\ns=caf\u00e9\r\n" * 40  # several pieces, two-byte characters
    head, body = whep.response(201, text, "application/sdp")
    assert body is text
    assert ("\r\nContent-Length: %d\r\n" % len(text.encode())).encode() in bytes(head)
    assert b"".join(whep._pieces(text)) == text.encode()
    assert bytes(head).endswith(b"\r\n\r\n")


def test_pages():
    _d, s = _server()
    out = _call(s, _req("GET", "/"))
    assert _status(out) == 200 and out.endswith(b"<html></html>")
    assert b"Content-Type: text/html" in out
    head = _call(s, _req("HEAD", "/"))
    assert _status(head) == 200 and head.endswith(b"\r\n\r\n")
    assert _status(_call(s, _req("POST", "/", b"x"))) == 405
