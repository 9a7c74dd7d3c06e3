"""The demo device: a web page and WHEP signaling over HTTP, data channels over WebRTC.

    micropython -X heapsize=N examples/device.py [--port 8080] [--host 127.0.0.1]
                                                    [--board esp32] [--udp-port N]
    python3 examples/device.py ...

(N: `python tools/board_heap.py esp32 build/mpy examples/device.py` gives the board's budget plus
the bytecode a board keeps in flash; `tools/demo` does this.) Serves `GET /` (a page that
connects, shows the connection state and a data-channel console) and `POST /whep` (an SDP
offer in, the answer out; `DELETE` on the Location ends the session). Every
data channel a peer opens echoes (text stays text, binary stays binary), except one labelled
`telemetry`, on which the device sends a JSON line per second: uptime, free heap, bytes sent.
Session k (0, 1, ...) uses UDP port `--udp-port` + k (default: the HTTP port number). Lines
printed: `listening http://HOST:PORT/`, `session ID STATE REASON`, `channel ID open LABEL`.
"""

import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.append(_here + "/..")  # after MICROPYPATH: precompiled modules win

import asyncio  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402

import boards  # noqa: E402
from rtc_micro import events  # noqa: E402
from rtc_micro.compat import ticks_diff, ticks_ms, urandom  # noqa: E402
from rtc_micro.crypto import ec, x509  # noqa: E402
from rtc_micro.drivers.aio import Driver  # noqa: E402
from rtc_micro.errors import StateError  # noqa: E402
from rtc_micro.peer import PeerConnection  # noqa: E402
from rtc_micro.signaling.whep import WhepServer  # noqa: E402

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>rtc_micro device</title>
<style>body{font:14px monospace;margin:2em}#log{white-space:pre;border:1px solid #999;
padding:.5em;height:20em;overflow:auto}</style></head>
<body><h1>rtc_micro device</h1>
<p>connection: <b id="state">new</b> <button id="go">connect</button>
<button id="stop" disabled>hang up</button></p>
<p><input id="msg" value="hello device" size="40"> <button id="send" disabled>send</button></p>
<div id="log"></div>
<script>
const $ = (id) => document.getElementById(id);
let pc = null, echo = null, location_ = null;
const log = (s) => { $("log").textContent += s + "\\n"; $("log").scrollTop = 1e9; };
window.rtcState = () => pc ? pc.connectionState : "new";
window.rtcEchoes = [];
window.rtcTelemetry = [];
async function connect() {
  pc = new RTCPeerConnection();
  pc.onconnectionstatechange = () => { $("state").textContent = pc.connectionState;
                                       log("state " + pc.connectionState); };
  echo = pc.createDataChannel("echo");
  echo.onopen = () => { $("send").disabled = false; log("echo open"); };
  echo.onmessage = (e) => { window.rtcEchoes.push(e.data); log("echo: " + e.data); };
  const tel = pc.createDataChannel("telemetry", {ordered: false, maxRetransmits: 0});
  tel.onmessage = (e) => { window.rtcTelemetry.push(e.data); log("telemetry: " + e.data); };
  await pc.setLocalDescription(await pc.createOffer());
  // The device is ICE-lite: it needs none of our candidates, so no waiting for gathering.
  const r = await fetch("/whep", {method: "POST", body: pc.localDescription.sdp,
                                  headers: {"Content-Type": "application/sdp"}});
  if (r.status != 201) { log("offer refused: " + r.status + " " + await r.text()); return; }
  location_ = r.headers.get("Location");
  await pc.setRemoteDescription({type: "answer", sdp: await r.text()});
  $("go").disabled = true; $("stop").disabled = false;
}
async function hangup() {
  if (location_) await fetch(location_, {method: "DELETE"});
  pc.close(); $("state").textContent = "closed"; $("stop").disabled = true;
  $("go").disabled = false; $("send").disabled = true;
}
window.rtcConnect = connect;
window.rtcSend = (s) => echo.send(s);
$("go").onclick = connect;
$("stop").onclick = hangup;
$("send").onclick = () => echo.send($("msg").value);
</script></body></html>
"""


_BACKLOG = 4  # echoes held while the send buffer is full (copies: bounded)


def parse_args(argv):
    opts = {"port": 8080, "host": "127.0.0.1", "board": "esp32", "udp_port": None}
    i = 0
    while i < len(argv):
        key = argv[i]
        if not key.startswith("--") or i + 1 >= len(argv):
            raise SystemExit("usage: device.py [--port N] [--host ADDR] [--board NAME] "
                             "[--udp-port N]")
        name = key[2:].replace("-", "_")
        if name not in opts:
            raise SystemExit("unknown option " + key)
        val = argv[i + 1]
        opts[name] = val if name in ("host", "board") else int(val)
        i += 2
    if opts["udp_port"] is None:
        opts["udp_port"] = opts["port"]
    return opts


def _free_heap():
    return gc.mem_free() if hasattr(gc, "mem_free") else -1


def _session_bytes(p):
    """The large buffers one session allocates (SCTP rings, DTLS slots and handshake areas)."""
    return (p.sctp_send_buffer + p.sctp_reassembly_bytes + p.max_message_size
            + p.dtls_transmit_slots * p.mtu + p.dtls_transcript_bytes
            + p.dtls_reassembly_bytes + p.dtls_flight_bytes)


def _reserve(n):
    gc.collect()
    try:
        return bytearray(n)
    except MemoryError:
        return None


class Session:
    """One browser: its PeerConnection, the driver task on its own UDP port, its telemetry."""

    def __init__(self, device, sid, slot, pc):
        self.device = device
        self.sid = sid
        self.slot = slot
        self.pc = pc
        self.telemetry = []  # open channels labelled "telemetry"
        self.backlog = []  # echoes waiting for room in the send buffer: [(channel, message)]
        self.dropped = 0  # echoes dropped: backlog full
        self.driver = Driver(pc, device.host, device.udp_port + slot,
                             device.profile.rx_buffer, self.on_event)
        self.task = asyncio.create_task(self.driver.run())

    def on_event(self, pc, kind):
        """Runs inside the driver's drain: details are valid only during this call."""
        now = ticks_ms()
        if kind == events.CHANNEL_MESSAGE:
            ch = pc.out_channel
            if ch.label != "telemetry":
                self.echo(ch, pc.out_data, pc.out_binary, now)
        elif kind == events.CHANNEL_BUFFERED_LOW:
            self.retry(now)
        elif kind == events.CHANNEL_OPEN:
            ch = pc.out_channel
            print("channel %s open %s" % (self.sid, ch.label))
            if ch.label == "telemetry":
                self.telemetry.append(ch)
        elif kind == events.CHANNEL_CLOSED:
            if pc.out_channel in self.telemetry:
                self.telemetry.remove(pc.out_channel)
        elif kind == events.CONNECTION_STATE:
            print("session %s %s %s" % (self.sid, pc.ev_state, pc.ev_reason))
            if pc.ev_state in ("failed", "closed"):
                self.device.end(self.sid)

    def echo(self, ch, view, binary, now):
        """Send a message back as it came (text or binary), straight from the receive view when
        there is room; else hold a copy behind earlier echoes (bounded), to keep order."""
        if not self.backlog and self.pc.send(ch, view, now, binary=binary):
            return
        if len(self.backlog) >= _BACKLOG:
            self.dropped += 1
            return
        self.backlog.append((ch, bytes(view), binary))
        if len(self.backlog) == 1:
            asyncio.create_task(self.drain_backlog())

    async def drain_backlog(self):
        """Retry held echoes every 10 ms: a 16 KB echo needs the whole send buffer, so waiting
        for CHANNEL_BUFFERED_LOW alone (below 4 KB) is not enough."""
        while self.backlog and self.pc.state == "connected":
            await asyncio.sleep(0.01)
            self.retry(ticks_ms())
            self.driver.flush()

    def retry(self, now):
        while self.backlog:
            ch, msg, binary = self.backlog[0]
            if ch.state == 1 and not self.pc.send(ch, msg, now, binary=binary):  # 1: OPEN
                return
            self.backlog.pop(0)

    def tick(self, now):
        """One telemetry line on each telemetry channel (RFC 8259 JSON)."""
        self.retry(now)
        if not self.telemetry:
            return
        line = json.dumps({"uptime_ms": ticks_diff(now, self.device.started),
                           "free_heap": _free_heap(),
                           "bytes_sent": self.pc.counters.bytes_sent})
        for ch in self.telemetry:
            self.pc.send(ch, line, now)
        self.driver.flush()

    def close(self):
        if self.pc.state not in ("closed", "failed"):
            self.pc.close(ticks_ms())
            self.driver.flush()
        self.driver.stop()
        self.pc.release()  # its buffers go back to the heap even if a stale pointer holds it
        self.backlog = []
        self.telemetry = []  # channels keep their association alive


class Device:
    def __init__(self, opts):
        self.profile = boards.load(opts["board"])
        self.host = opts["host"]
        self.port = opts["port"]
        self.udp_port = opts["udp_port"]
        self.certificate = x509.Certificate.generate("rtc_micro device")
        ec.precompute()  # the P-256 generator tables, made while the heap is still in one piece
        # ECDHE key pairs made while idle, not in a handshake (3 ms each on the Unix port).
        self.keys = ec.KeyPool(ec.x25519_keypair)
        self.keys.fill()
        self.sessions = {}
        self.started = ticks_ms()
        # A long-running heap fragments (HTTP, asyncio): 95 KB free may hold no 8 KB block. So
        # each session slot keeps one contiguous block from boot and hands it to its session's
        # buffers (dropped and collected just before they are made); refilled when it ends.
        self.session_bytes = _session_bytes(self.profile)
        self.reserve = [None] * self.profile.max_sessions
        self.refill()

    def refill(self):
        """Reserve the block of every free session slot that has none."""
        used = [s.slot for s in self.sessions.values()]
        for slot in range(len(self.reserve)):
            if slot not in used and self.reserve[slot] is None:
                self.reserve[slot] = _reserve(self.session_bytes)

    def on_offer(self, text):
        """WHEP POST: a new session (StateError when all slots are taken: HTTP 503)."""
        slots = self.profile.max_sessions
        used = [s.slot for s in self.sessions.values()]
        slot = 0
        while slot in used:
            slot += 1
        if slot >= slots:
            raise StateError("%d sessions already (the board's max_sessions): end one with "
                             "DELETE first" % slots)
        self.reserve[slot] = None
        if hasattr(gc, "mem_free"):  # MicroPython: the block is free once collected (0.3 ms);
            gc.collect()  # CPython frees it by reference count, and a collection costs 3.5 ms
        pc = PeerConnection(self.profile, self.certificate, self.host, self.udp_port + slot,
                            x25519_pool=self.keys)
        answer = pc.accept_offer(text, ticks_ms())  # ConfigError: HTTP 400 with the reason
        sid = "".join("%02x" % b for b in urandom(6))
        self.sessions[sid] = Session(self, sid, slot, pc)
        print("session %s offer accepted on udp %d" % (sid, self.udp_port + slot))
        return sid, answer

    def on_delete(self, sid):
        return self.end(sid)

    def end(self, sid):
        s = self.sessions.pop(sid, None)
        if s is None:
            return False
        s.close()
        return True

    async def run(self):
        server = WhepServer(self.profile, self.on_offer, self.on_delete,
                            {"/": ("text/html; charset=utf-8", PAGE)})
        await server.start(self.host, self.port)
        print("listening http://%s:%d/" % (self.host, self.port))
        while True:
            await asyncio.sleep(1)
            now = ticks_ms()
            for s in list(self.sessions.values()):
                s.tick(now)
            self.refill()
            self.keys.fill()


def main(argv):
    opts = parse_args(argv)
    asyncio.run(Device(opts).run())


if __name__ == "__main__":
    main(sys.argv[1:])
