"""A tiny HTTP/1.1 server for the device page and WHEP signaling (RFC 9725), on asyncio.

Runs unchanged on MicroPython's and CPython's asyncio. One request per connection
(`Connection: close`), bounded by the board profile: `http_max_request` bytes for head plus body,
`http_max_connections` at once (more get 503 at once). Routes:

- `GET <path>` of a page given to the server (the device's own page at `/`);
- `POST /whep` with an `application/sdp` offer -> `201 Created`, `Location: /whep/<id>`, answer;
- `DELETE /whep/<id>` ends that session; `PATCH` (trickle ICE, RFC 9725 §4.3) -> 405;
- `OPTIONS` preflight and CORS headers on every response so pages from other origins connect.

Bad requests get a 4xx with a one-line reason; nothing a client sends crashes the server.
The WebRTC side is two callbacks, so this module knows nothing of PeerConnection.
`post_offer()` and `request()` are the client side (examples/rtc_client.py: a device or tool
connecting to a WHEP endpoint).
"""

import asyncio

from rtc_micro.errors import ConfigError, RtcError
from rtc_micro.memory import copy_into

_READ_TIMEOUT_S = 10  # a client that stalls mid-request loses its slot
_PIECE = 256  # characters of a text body encoded at a time
_REASONS = {
    200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required",
    413: "Content Too Large", 415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error", 503: "Service Unavailable",
}
_CORS = (b"Access-Control-Allow-Origin: *\r\n"
         b"Access-Control-Allow-Methods: GET, POST, DELETE, OPTIONS\r\n"
         b"Access-Control-Allow-Headers: Content-Type, Authorization\r\n"
         b"Access-Control-Expose-Headers: Location\r\n")


class HttpError(Exception):
    """A request the server refuses: `status` and a reason a person can act on."""

    def __init__(self, status, reason, headers=b""):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


class Request:
    """A parsed request head: `method`, `path` (query dropped), `headers` (lower-case names)."""

    def __init__(self, method, path, headers):
        self.method = method
        self.path = path
        self.headers = headers
        self.body = b""

    def content_length(self, room, cap):
        """The body length (0 when absent); HttpError when bad or above `room` bytes (what is
        left of the request limit `cap` after the head)."""
        v = self.headers.get("content-length")
        if v is None:
            if "transfer-encoding" in self.headers:
                raise HttpError(411, "send the body with Content-Length, not chunked")
            return 0
        try:
            n = int(v)
        except ValueError:
            n = -1
        if n < 0:
            raise HttpError(400, "Content-Length %r is not a byte count" % v)
        if n > room:
            raise HttpError(413, "body of %d bytes does not fit: this device takes requests "
                            "of up to %d bytes" % (n, cap))
        return n


def pull_request_line(line):
    """`GET /path?q HTTP/1.1` -> (method, path). HttpError(400) when malformed."""
    f = line.split()
    if len(f) != 3 or not f[2].startswith("HTTP/1.") or not f[1].startswith("/"):
        raise HttpError(400, "malformed request line")
    path = f[1]
    q = path.find("?")
    return f[0], path if q < 0 else path[:q]


def pull_header(line, headers):
    """Add one `Name: value` line to `headers` (name lower-cased). HttpError(400) if malformed."""
    i = line.find(":")
    if i <= 0:
        raise HttpError(400, "malformed header line")
    headers[line[:i].strip().lower()] = line[i + 1:].strip()


def response(status, body=b"", content_type=None, headers=b""):
    """A complete response with CORS headers and `Connection: close`, as `(head, body)`: the
    head in one block, the body as given (bytes, or text such as an SDP answer, which `_send`
    encodes a piece at a time; its Content-Length counts its UTF-8 bytes)."""
    n = len(body)
    if isinstance(body, str):
        n = 0
        for piece in _pieces(body):
            n += len(piece)
    head = "HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n" % (
        status, _REASONS.get(status, "Error"), n)
    if content_type:
        head += "Content-Type: %s\r\n" % content_type
    head = head.encode()
    # One block of the final size: each `+` would copy the growing head again, and on a used
    # heap those intermediate blocks are what fails first.
    out = bytearray(len(head) + len(_CORS) + len(headers) + 2)
    n = 0
    for part in (head, _CORS, headers, b"\r\n"):
        k = len(part)
        copy_into(out, n, part, 0, k)
        n += k
    return out, body


def _pieces(text):
    """`text` encoded `_PIECE` characters at a time: a 2 KB answer never needs a second 2 KB
    block (with two sessions up on the esp32 budget, an 802-byte one was not to be had)."""
    for i in range(0, len(text), _PIECE):
        yield text[i:i + _PIECE].encode()


def _error(status, reason, headers=b""):
    return response(status, (reason + "\n").encode(), "text/plain", headers)


class WhepServer:
    """The device's HTTP endpoint.

    `on_offer(sdp_text)` -> `(session_id, answer_text)`; it raises `RtcError` (ConfigError: the
    offer cannot be served -> 400 with its message; StateError: no room for a session -> 503).
    `on_delete(session_id)` -> True when the session existed. `pages` maps a path to
    `(content_type, body_bytes)`. `admit()`, when given, is asked before an offer's body is
    read and raises `RtcError` to refuse it (503 with its message): a device with every session
    slot taken says so without first finding heap for a 7 KB offer it cannot serve.
    """

    def __init__(self, profile, on_offer, on_delete, pages=None, path="/whep", admit=None):
        self.max_request = profile.http_max_request
        self.max_connections = profile.http_max_connections
        self.on_offer = on_offer
        self.on_delete = on_delete
        self.admit = admit
        self.pages = pages or {}
        self.path = path
        self.connections = 0
        self.served = 0
        self.refused = 0  # requests answered 4xx/5xx
        self._server = None

    async def start(self, host, port):
        """Listen on `host:port` (returns once listening)."""
        self._server = await asyncio.start_server(self._serve, host, port)
        return self._server

    def close(self):
        if self._server is not None:
            self._server.close()
            self._server = None

    async def _serve(self, reader, writer):
        if self.connections >= self.max_connections:
            self.refused += 1
            await _send(writer, _error(503, "too many connections; retry shortly",
                                       b"Retry-After: 1\r\n"))
            return
        self.connections += 1
        out = None
        try:
            out = await asyncio.wait_for(self._request(reader), _READ_TIMEOUT_S)
        except HttpError as e:
            out = _error(e.status, e.reason, e.headers)
        except asyncio.TimeoutError:
            out = _error(408, "request not received in time")
        except MemoryError:
            out = _error(503, "the device is short of memory; retry shortly",
                         b"Retry-After: 1\r\n")
        except Exception:  # noqa: BLE001 the client hung up mid-request: nobody to answer
            pass
        try:
            if out is not None and out[0][9] == 50:  # b"2": 2xx
                self.served += 1
            else:
                self.refused += 1
            await _send(writer, out)
        except Exception:  # noqa: BLE001 the client left before the answer
            pass
        finally:
            self.connections -= 1

    async def _request(self, reader):
        budget = self.max_request
        line = await reader.readline()
        budget -= len(line)
        if not line:
            raise HttpError(400, "empty request")
        method, path = pull_request_line(_text(line))
        headers = {}
        while True:
            line = await reader.readline()
            budget -= len(line)
            if budget < 0:
                raise HttpError(431, "request head exceeds this device's limit of %d bytes"
                                % self.max_request)
            if not line:
                raise HttpError(400, "connection closed inside the request head")
            if line in (b"\r\n", b"\n"):
                break
            pull_header(_text(line).rstrip("\r\n"), headers)
        req = Request(method, path, headers)
        n = req.content_length(budget, self.max_request)
        if self.admit is not None and method == "POST" and path == self.path:
            try:
                self.admit()
            except RtcError as e:
                await _discard(reader, n)  # unread, it would reset the connection and the answer
                raise _busy(e)
        if n:
            req.body = await reader.readexactly(n)
        return self.dispatch(req)

    def dispatch(self, req):
        """The response bytes for a complete request (sans-I/O; tests call it directly)."""
        m = req.method
        if m == "OPTIONS":
            return response(204, headers=b"Access-Control-Max-Age: 600\r\n")
        if req.path == self.path:
            if m != "POST":
                raise HttpError(405, "POST an SDP offer here", b"Allow: POST, OPTIONS\r\n")
            return self._post(req)
        if req.path.startswith(self.path + "/"):
            sid = req.path[len(self.path) + 1:]
            if m == "DELETE":
                if not self.on_delete(sid):
                    raise HttpError(404, "no session %s" % sid)
                return response(200)
            if m == "PATCH":
                raise HttpError(405, "trickle ICE is not supported: the answer has all "
                                "candidates", b"Allow: DELETE, OPTIONS\r\n")
            raise HttpError(405, "only DELETE ends a session", b"Allow: DELETE, OPTIONS\r\n")
        page = self.pages.get(req.path)
        if page is not None:
            if m not in ("GET", "HEAD"):
                raise HttpError(405, "this page is read-only", b"Allow: GET, OPTIONS\r\n")
            out = response(200, page[1], page[0])
            return (out[0], b"") if m == "HEAD" else out
        raise HttpError(404, "nothing at %s" % req.path)

    def _post(self, req):
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/sdp":
            raise HttpError(415, "POST the offer as Content-Type: application/sdp")
        if not req.body:
            raise HttpError(400, "the body must be an SDP offer")
        text = _text(req.body)
        req.body = None  # an offer can be 7 KB: keep one copy of it, not two, on a small heap
        try:
            sid, answer = self.on_offer(text)
        except ConfigError as e:
            raise HttpError(400, str(e))
        except RtcError as e:
            raise _busy(e)
        try:
            return response(201, answer, "application/sdp",
                            ("Location: %s/%s\r\n" % (self.path, sid)).encode())
        except MemoryError:  # no answer reaches the client: the session must not stay
            self.on_delete(sid)
            raise


def _busy(e):
    return HttpError(503, str(e), b"Retry-After: 5\r\n")


async def _discard(reader, n):
    """Read and drop `n` bytes of a body in small pieces."""
    while n > 0:
        got = await reader.read(min(n, 256))
        if not got:
            return
        n -= len(got)


def _text(b):
    try:
        return str(b, "utf-8")
    except UnicodeError:
        raise HttpError(400, "request is not UTF-8 text")


async def _send(writer, out):
    """Write a response (None: nothing) and close the connection whatever happens."""
    try:
        if out is not None:
            head, body = out
            writer.write(head)
            if isinstance(body, str):
                for piece in _pieces(body):
                    writer.write(piece)
                    await writer.drain()
            elif body:
                writer.write(body)
            await writer.drain()
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except Exception:
            pass


# ---- client side (a device or tool that connects to a WHEP endpoint) ------------------------


async def post_offer(host, port, offer, path="/whep", max_bytes=16384):
    """WHEP client (RFC 9725 §4.2): POST the SDP `offer` (str or bytes) -> `(location,
    answer_text)`.

    HttpError with the endpoint's status and reason when it does not answer 201 Created;
    `max_bytes` bounds the response read.
    """
    if isinstance(offer, str):
        offer = offer.encode()
    status, location, body = await request(host, port, "POST", path, offer, "application/sdp",
                                           max_bytes)
    if status != 201:
        raise HttpError(status, "WHEP endpoint answered %d: %s" % (status, _text(body).strip()))
    return location, _text(body)


async def request(host, port, method, path, body=b"", ctype=None, max_bytes=16384):
    """One HTTP/1.1 request on its own connection -> (status, Location or None, body bytes)."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: %d\r\nConnection: close\r\n" % (
            method, path, host, port, len(body))
        if ctype:
            head += "Content-Type: %s\r\n" % ctype
        writer.write(head.encode() + b"\r\n" + body)
        await writer.drain()
        line = _text(await reader.readline())
        f = line.split()
        if len(f) < 2 or not f[0].startswith("HTTP/1.") or not f[1].isdigit():
            raise HttpError(502, "not an HTTP response: %r" % line[0:40])
        headers = {}
        while True:
            line = await reader.readline()
            max_bytes -= len(line)
            if max_bytes < 0 or not line:
                raise HttpError(502, "response head too long or cut short")
            if line in (b"\r\n", b"\n"):
                break
            pull_header(_text(line).rstrip("\r\n"), headers)
        try:
            n = int(headers.get("content-length", "0"))
        except ValueError:
            n = -1
        if n < 0 or n > max_bytes:
            raise HttpError(502, "response body of %s bytes: not a count, or above %d"
                            % (headers.get("content-length"), max_bytes))
        data = await reader.readexactly(n) if n else b""
        return int(f[1]), headers.get("location"), data
    finally:
        await _send(writer, None)
