"""The demo device: a web page and WHEP signaling over HTTP, data channels, audio and video.

    micropython -X heapsize=N examples/device.py [--port 8080] [--host 127.0.0.1]
                                                    [--board esp32] [--udp-port N]
                                                    [--sessions N]
    python3 examples/device.py ...

(N: `python tools/board_heap.py esp32 build/mpy examples/device.py` gives the board's budget plus
the bytecode a board keeps in flash; `tools/demo` runs it through `tools/as_frozen.py`, which
leaves the budget free in one block, as on a board.) Serves `GET /` (a page that
connects, shows the connection state and a data-channel console) and `POST /whep` (an SDP
offer in, the answer out; `DELETE` on the Location ends the session). Every
data channel a peer opens echoes (text stays text, binary stays binary), except one labelled
`telemetry`, on which the device sends a JSON line per second: uptime, free heap, bytes sent,
RTP packets sent. If the offer asks for audio (boards with `audio_tracks`) the device sends a
440 Hz tone: G.711 (PCMU/PCMA) made on the device, or the shipped Ogg Opus clip when the offer
prefers Opus; if it asks for video (boards with `video_tracks`), the shipped H.264 clip from its
first keyframe, and from it again on PLI/FIR. Media files are read from examples/media/ a page
(or a frame) at a time.
`--sessions` is how many browsers it serves at once (default: the board's `max_sessions`; each
takes a session slot's buffers at boot, so more than the board's default may not fit its heap:
docs/memory.md). Session k (0, 1, ...) uses UDP port `--udp-port` + k (default: the HTTP port
number). Lines
printed: `listening http://HOST:PORT/`, `session ID STATE REASON`, `channel ID open LABEL`.
"""

import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.append(_here + "/..")  # after MICROPYPATH: precompiled modules win

import asyncio  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402

import boards  # noqa: E402
from rtc_micro import events  # noqa: E402
from rtc_micro.compat import ticks_add, ticks_diff, ticks_ms, urandom  # noqa: E402
from rtc_micro.crypto import ec, x509  # noqa: E402
from rtc_micro.drivers.aio import Driver  # noqa: E402
from rtc_micro.errors import StateError  # noqa: E402
from rtc_micro.memory import Buffers  # noqa: E402
from rtc_micro.peer import PeerConnection  # noqa: E402
from rtc_micro.signaling.whep import WhepServer  # noqa: E402

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>rtc_micro device</title>
<style>body{font:14px monospace;margin:2em}#log{white-space:pre;border:1px solid #999;
padding:.5em;height:20em;overflow:auto}</style></head>
<body><h1>rtc_micro device</h1>
<p>connection: <b id="state">new</b> <button id="go">connect</button>
<button id="stop" disabled>hang up</button></p>
<p><label><input type="checkbox" id="audio" checked> audio</label>
<label><input type="checkbox" id="video" checked> video</label></p>
<p><input id="msg" value="hello device" size="40"> <button id="send" disabled>send</button></p>
<p><video id="player" autoplay playsinline muted width="320" height="240"></video></p>
<div id="log"></div>
<script>
const $ = (id) => document.getElementById(id);
let pc = null, echo = null, location_ = null;
const log = (s) => { $("log").textContent += s + "\\n"; $("log").scrollTop = 1e9; };
window.rtcState = () => pc ? pc.connectionState : "new";
window.rtcEchoes = [];
window.rtcTelemetry = [];
const stream = new MediaStream();
async function connect(opts) {
  opts = opts || {audio: $("audio").checked, video: $("video").checked};
  pc = new RTCPeerConnection();
  // The device only sends media: receive-only transceivers; it answers what it has.
  if (opts.audio) pc.addTransceiver("audio", {direction: "recvonly"});
  if (opts.video) pc.addTransceiver("video", {direction: "recvonly"});
  pc.ontrack = (e) => { stream.addTrack(e.track); $("player").srcObject = stream;
                        $("player").muted = false; log("track " + e.track.kind); };
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
window.rtcInbound = async () => {  // inbound-rtp stats by kind (webrtc-stats)
  const out = {};
  (await pc.getStats()).forEach((s) => { if (s.type == "inbound-rtp") out[s.kind] = s; });
  return out;
};
$("go").onclick = () => connect();
$("stop").onclick = hangup;
$("send").onclick = () => echo.send($("msg").value);
</script></body></html>
"""


_MEDIA = _here + "/media/"
_TONE_HZ = 440
_TONE_PERIOD = 200  # samples at 8 kHz: 440/8000 = 11/200, the tone repeats every 200 samples
_AUDIO_MS = 20
_VIDEO_FPS = 15  # the shipped clip's frame rate


def preload(profile):
    """Import the media code this board's sessions use (none on a data-channel-only board), at
    boot while the heap is in one piece; tools/board_heap.py calls it too, to count it."""
    if profile.audio_tracks or profile.video_tracks:
        import rtc_micro.srtp  # noqa: F401
        import rtc_micro.track  # noqa: F401
        from rtc_micro.codecs import g711, opus  # noqa: F401
    if profile.video_tracks:
        from rtc_micro.codecs import h264  # noqa: F401


def _tone_table(codec):
    """A 440 Hz tone in G.711 with room for any 20 ms window: 200 + 160 samples, encoded once."""
    n = _TONE_PERIOD + 160
    pcm = bytearray(2 * n)
    for i in range(n):
        v = int(8000 * math.sin(2 * math.pi * _TONE_HZ * i / 8000)) & 0xFFFF
        pcm[2 * i] = v & 255
        pcm[2 * i + 1] = v >> 8
    from rtc_micro.codecs import g711

    out = bytearray(n)
    (g711.ulaw_encode if codec == "pcmu" else g711.alaw_encode)(pcm, 0, n, out, 0)
    return out


class AudioSource:
    """20 ms frames for the negotiated codec: the G.711 tone, or the Ogg Opus clip, looped."""

    def __init__(self, track, profile):
        self.track = track
        self.phase = 0
        self.headers = 2  # OpusHead, OpusTags (RFC 7845 §3) precede the audio packets
        self.file = self.ogg = self.table = None
        if track.codec == "opus":
            from rtc_micro.codecs import opus

            self.file = open(_MEDIA + "tone440.opus", "rb")
            self.ogg = opus.OggReader(self.file, profile)
        else:
            self.table = _tone_table(track.codec)

    def send(self, now):
        if self.ogg is None:
            self.track.write_sample(self.table, now, off=self.phase, n=160)
            self.phase = (self.phase + 160) % _TONE_PERIOD
            return
        r = self.ogg
        while True:
            n = r.next_packet()
            if n < 0:
                r.rewind()
                self.headers = 2
            elif self.headers:
                self.headers -= 1
            else:
                break
        self.track.write_sample(r.packet, now, n=n)

    def close(self):
        if self.file is not None:
            self.file.close()


class VideoSource:
    """The H.264 clip, an access unit per frame, looped; `keyframe()` restarts it (its first
    unit is an IDR picture)."""

    def __init__(self, track, profile):
        from rtc_micro.codecs.h264 import AnnexBReader

        self.track = track
        self.file = open(_MEDIA + "pattern.h264", "rb")
        self.reader = AnnexBReader(self.file, profile)

    def keyframe(self):
        self.reader.rewind()

    def send(self, now):
        r = self.reader
        n = r.next_access_unit()
        if not n:
            r.rewind()
            n = r.next_access_unit()
        self.track.write_frame(r.buf, now, duration=90000 // _VIDEO_FPS, off=r.off, n=n)

    def close(self):
        self.file.close()


def parse_args(argv):
    opts = {"port": 8080, "host": "127.0.0.1", "board": "esp32", "udp_port": None,
            "sessions": None}
    i = 0
    while i < len(argv):
        key = argv[i]
        if not key.startswith("--") or i + 1 >= len(argv):
            raise SystemExit("usage: device.py [--port N] [--host ADDR] [--board NAME] "
                             "[--udp-port N] [--sessions N]")
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


class Session:
    """One browser: its PeerConnection, the driver task on its own UDP port, its telemetry."""

    def __init__(self, device, sid, slot, pc):
        self.device = device
        self.sid = sid
        self.slot = slot
        self.pc = pc
        self.telemetry = []  # open channels labelled "telemetry"
        self.audio = self.video = None  # AudioSource / VideoSource once the tracks are ready
        self.closed = False
        self.waiting = False  # a message is deferred until the send buffer has room
        self.driver = Driver(pc, device.host, device.udp_port + slot,
                             device.rx_buffer, self.on_event)
        self.task = asyncio.create_task(self.driver.run())
        if any(t.mid is not None for t in pc.tracks):
            asyncio.create_task(self.media())

    def on_event(self, pc, kind):
        """Runs inside the driver's drain: details are valid only during this call."""
        now = ticks_ms()
        if kind == events.CHANNEL_MESSAGE:
            ch = pc.out_channel
            if ch.label != "telemetry":
                self.echo(ch, pc.out_data, pc.out_binary, now)
        elif kind == events.CHANNEL_BUFFERED_LOW:
            pc.resume_messages()  # comes again in this same drain
        elif kind == events.KEYFRAME_REQUEST:
            if self.video is not None:
                self.video.keyframe()
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
        """Send a message back as it came (text or binary), straight from the receive view. With
        no room in the send buffer the message is deferred, not copied: it stays in SCTP's
        receive window (holding the browser back) and comes again once there is room."""
        if self.pc.send(ch, view, now, binary=binary):
            return
        self.pc.defer_message()
        if not self.waiting:
            self.waiting = True
            asyncio.create_task(self.resume())

    async def resume(self):
        """Offer a deferred message again every 10 ms: a 4 KB echo may need more room than
        CHANNEL_BUFFERED_LOW (below the low-water mark) promises."""
        while self.pc is not None and self.pc.message_deferred and self.pc.state == "connected":
            await asyncio.sleep(0.01)
            if self.pc is not None:
                self.pc.resume_messages()
                self.driver.flush()
        self.waiting = False

    async def media(self):
        """Audio every 20 ms and video every 1/15 s, paced against the clock (no drift), from
        when DTLS-SRTP is up until the session ends."""
        pc = self.pc
        while not self.closed and not any(t.ready for t in pc.tracks):
            await asyncio.sleep(0.02)
        p = self.device.profile
        for t in pc.tracks:
            if t.ready and t.kind == "audio":
                self.audio = AudioSource(t, p)
            elif t.ready and t.kind == "video":
                self.video = VideoSource(t, p)
        start = ticks_ms()
        audio_at = video_at = start
        frames = 0
        while not self.closed:
            now = ticks_ms()
            if pc.state != "connected":  # disconnected for now: hold, resume where we were
                audio_at = video_at = start = now
                frames = 0
            elif self.audio is not None and ticks_diff(now, audio_at) >= 0:
                self.audio.send(now)
                audio_at = ticks_add(audio_at, _AUDIO_MS)
                if ticks_diff(now, audio_at) > 200:  # stalled: skip ahead, do not burst
                    audio_at = ticks_add(now, _AUDIO_MS)
            if self.video is not None and pc.state == "connected" and \
                    ticks_diff(now, video_at) >= 0:
                self.video.send(now)
                frames += 1
                video_at = ticks_add(start, frames * 1000 // _VIDEO_FPS)
                if ticks_diff(now, video_at) > 500:
                    start = now
                    frames = 0
                    video_at = now
            self.driver.flush()
            now = ticks_ms()
            wait = _AUDIO_MS
            if self.audio is not None:
                wait = min(wait, ticks_diff(audio_at, now))
            if self.video is not None:
                wait = min(wait, ticks_diff(video_at, now))
            await asyncio.sleep(max(wait, 1) / 1000)
        for src in (self.audio, self.video):
            if src is not None:
                src.close()
        self.audio = self.video = None

    def tick(self, now):
        """One telemetry line on each telemetry channel (RFC 8259 JSON)."""
        if not self.telemetry:
            return
        rtp = 0
        for t in self.pc.tracks:
            if t.sender is not None:
                rtp += t.sender.packets
        line = json.dumps({"uptime_ms": ticks_diff(now, self.device.started),
                           "free_heap": _free_heap(),
                           "bytes_sent": self.pc.counters.bytes_sent,
                           "rtp_packets_sent": rtp})
        for ch in self.telemetry:
            self.pc.send(ch, line, now)
        self.driver.flush()

    def close(self):
        self.closed = True
        if self.pc.state not in ("closed", "failed"):
            self.pc.close(ticks_ms())
            self.driver.flush()
        self.driver.stop()
        self.pc.release()  # its buffers go back to the heap even if a stale pointer holds it
        self.telemetry = []  # channels keep their association alive
        asyncio.create_task(self.forget())

    async def forget(self):
        """Once the driver's task has ended, let go of the PeerConnection (~11 KB on esp32 after
        release()): the ended task's frame still points at the driver, and asyncio keeps a task
        alive for a while after it ends."""
        await self.task
        self.driver.machine = self.driver.on_event = None
        self.task = self.driver = self.pc = None


class Device:
    def __init__(self, opts):
        self.profile = boards.load(opts["board"])
        if opts.get("sessions"):
            self.profile = self.profile.derive(max_sessions=opts["sessions"])
        self.host = opts["host"]
        self.port = opts["port"]
        self.udp_port = opts["udp_port"]
        # A long-running heap fragments (HTTP, asyncio): 95 KB free may hold no 8 KB block. So
        # each session slot's large buffers are made first, side by side, and reused by every
        # session on that slot.
        shared = Buffers()  # scratch and handshake buffers: one session at a time uses them
        self.mem = []
        for _ in range(self.profile.max_sessions):
            self.mem.append(Buffers(shared))
            PeerConnection.reserve(self.profile, self.mem[-1])
        # Every session's driver receives into this one (each drains before the next reads).
        self.rx_buffer = shared.take("udp_rx", self.profile.rx_buffer)
        self.certificate = x509.Certificate.generate("rtc_micro device")
        for slot in self.mem:  # and the machines each session initialises again
            PeerConnection.reserve(self.profile, slot, self.certificate)
        preload(self.profile)
        ec.precompute()  # the P-256 generator tables, made while the heap is still in one piece
        # ECDHE key pairs made while idle, not in a handshake (3 ms each on the Unix port).
        self.keys = ec.KeyPool(ec.x25519_keypair)
        self.keys.fill()
        self.sessions = {}
        self.started = ticks_ms()

    def free_slot(self):
        """The first session slot not in use; StateError (HTTP 503) when all are."""
        used = [s.slot for s in self.sessions.values()]
        slot = 0
        while slot in used:
            slot += 1
        if slot >= self.profile.max_sessions:
            raise StateError("%d sessions already (the board's max_sessions): end one with "
                             "DELETE first" % slot)
        return slot

    def on_offer(self, text):
        """WHEP POST: a new session (StateError when all slots are taken: HTTP 503)."""
        slot = self.free_slot()
        mem = self.mem[slot]  # the slot's PeerConnection, initialised again for this session
        pc = mem.reuse(PeerConnection, self.profile, self.certificate, self.host,
                       self.udp_port + slot, x25519_pool=self.keys, mem=mem)
        if self.profile.audio_tracks:
            pc.add_track("audio", codecs=("opus", "pcmu", "pcma"))  # the offer's first choice
        if self.profile.video_tracks:
            pc.add_track("video", codecs=("h264",))
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
                            {"/": ("text/html; charset=utf-8", PAGE)}, admit=self.free_slot)
        await server.start(self.host, self.port)
        print("listening http://%s:%d/" % (self.host, self.port))
        while True:
            await asyncio.sleep(1)
            now = ticks_ms()
            self.tick(now)
            self.keys.fill()

    def tick(self, now):
        # A loop variable in run() would keep the last session alive after it ends.
        for s in list(self.sessions.values()):
            s.tick(now)


def main(argv):
    opts = parse_args(argv)
    asyncio.run(Device(opts).run())


if __name__ == "__main__":
    main(sys.argv[1:])
