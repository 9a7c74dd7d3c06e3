"""A WHEP client on CPython (aiortc), the "browser" of tools/demo and of the end-to-end tests.

    python examples/whep_client.py http://127.0.0.1:8080 [--messages 5]

Posts an offer with an `echo` and a `telemetry` data channel to the device's `/whep`, echoes
messages, reads telemetry lines, ends the session with `DELETE` and prints a short report.
aiortc needs its ICE gathering limited to loopback when the device listens there: this client
does that when the device's address is a loopback one.
"""

import asyncio
import http.client
import json
import sys
import time
from urllib.parse import urlsplit

import aioice
import aiortc


def http_request(host, port, method, path, body=None, ctype=None, timeout=10):
    """One HTTP request: (status, Location header, body bytes)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers={"Content-Type": ctype} if ctype else {})
        r = c.getresponse()
        return r.status, r.getheader("Location"), r.read()
    finally:
        c.close()


def gather_on_loopback():
    """aioice leaves 127.0.0.1 out of its host candidates; a loopback device needs it."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


class WhepClient:
    """An aiortc peer that connects to a device over WHEP (RFC 9725)."""

    def __init__(self, host, port):
        self.host = host
        self.port = port
        self.pc = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
        self.location = None
        self.states = []
        self.pc.on("connectionstatechange", lambda: self.states.append(self.pc.connectionState))

    def channel(self, label, **options):
        """A data channel with an `inbox` queue of messages and an `opened` event."""
        ch = self.pc.createDataChannel(label, **options)
        ch.inbox = asyncio.Queue()
        ch.opened = asyncio.Event()
        ch.on("open", ch.opened.set)
        ch.on("message", ch.inbox.put_nowait)
        return ch

    async def _http(self, method, path, body=None, ctype=None):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, http_request, self.host, self.port, method, path,
                                          body, ctype)

    async def connect(self):
        """POST the offer; raises AssertionError with the device's reason if it refuses."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        st, self.location, body = await self._http(
            "POST", "/whep", self.pc.localDescription.sdp.encode(), "application/sdp")
        assert st == 201, "device answered %d: %s" % (st, body.decode(errors="replace"))
        await self.pc.setRemoteDescription(aiortc.RTCSessionDescription(body.decode(), "answer"))

    async def delete(self):
        """End the session with DELETE on its Location; the HTTP status."""
        return (await self._http("DELETE", self.location))[0]


async def demo_session(host, port, messages=5, telemetry_lines=2):
    """Connect, echo `messages` messages, read telemetry, hang up. Returns report lines."""
    report = []
    c = WhepClient(host, port)
    echo = c.channel("echo")
    tel = c.channel("telemetry", ordered=False, maxRetransmits=0)
    t0 = time.monotonic()
    await c.connect()
    await asyncio.wait_for(echo.opened.wait(), 15)
    report.append("connected: offer -> channel open in %.0f ms" % ((time.monotonic() - t0) * 1000))
    ok = 0
    for i in range(messages):
        msg = "hello device %d" % i if i % 2 == 0 else bytes(range(i * 10 % 256)) * 4
        t1 = time.monotonic()
        echo.send(msg)
        back = await asyncio.wait_for(echo.inbox.get(), 10)
        ok += back == msg
        report.append("echo %d: %d %s in %.1f ms %s" % (
            i, len(msg), "chars" if isinstance(msg, str) else "bytes",
            (time.monotonic() - t1) * 1000, "ok" if back == msg else "MISMATCH"))
    for _ in range(telemetry_lines):
        line = json.loads(await asyncio.wait_for(tel.inbox.get(), 5))
        report.append("telemetry: uptime %d ms, free heap %s bytes, %d bytes sent" % (
            line["uptime_ms"], line["free_heap"], line["bytes_sent"]))
    status = await c.delete()
    report.append("DELETE %s -> %d" % (c.location, status))
    await c.pc.close()
    if ok != messages or status != 200:
        raise AssertionError("\n".join(report))
    return report


def main(argv):
    if not argv or argv[0].startswith("-"):
        sys.exit("usage: python examples/whep_client.py http://HOST:PORT [--messages N]")
    url = urlsplit(argv[0])
    messages = int(argv[argv.index("--messages") + 1]) if "--messages" in argv else 5
    if url.hostname in ("127.0.0.1", "localhost", "::1"):
        gather_on_loopback()
    for line in asyncio.run(demo_session(url.hostname, url.port or 80, messages)):
        print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
