"""Media interop with aiortc over real DTLS-SRTP on loopback (issue 7 item 7).

1. examples/device.py (MicroPython Unix port with the esp32s3 budget "as if frozen", and
   CPython) sends its 440 Hz tone (PCMU made on the device, or the shipped Ogg Opus clip) and the
   shipped H.264 clip; aiortc decodes them with PyAV: frames are counted, the tone's frequency
   is measured by zero crossings, the video's size checked.
2. aiortc sends a 440 Hz tone (PCMU, and Opus) to an rtc_micro PeerConnection on CPython (asyncio
   driver, same loop); we depacketize it: PCMU decoded with codecs/g711 and its frequency
   measured, Opus packets checked by their TOC (RFC 6716 §3.1; we do not decode Opus).
"""

import array
import asyncio
import fractions
import math
import time

import pytest

from host_tests.cpython.test_e2e_aiortc import DeviceProcess, free_port
from whep_client import WhepClient, gather_on_loopback

aiortc = pytest.importorskip("aiortc")
av = pytest.importorskip("av")

import boards  # noqa: E402
from rtc_micro import events  # noqa: E402
from rtc_micro.codecs import g711, opus  # noqa: E402
from rtc_micro.compat import ticks_ms  # noqa: E402
from rtc_micro.crypto import x509  # noqa: E402
from rtc_micro.drivers.aio import Driver  # noqa: E402
from rtc_micro.peer import PeerConnection  # noqa: E402

TONE = 440.0


def zero_cross_hz(samples, rate):
    crossings = 0
    for i in range(1, len(samples)):
        if (samples[i - 1] < 0) != (samples[i] < 0):
            crossings += 1
    return crossings / 2 / (len(samples) / rate)


def _prefer(transceiver, mime):
    caps = aiortc.RTCRtpReceiver.getCapabilities(transceiver.kind).codecs
    transceiver.setCodecPreferences([c for c in caps if c.mimeType.lower() == mime])


async def _receive_from_device(port, audio_mime, seconds=2.5):
    c = WhepClient("127.0.0.1", port)
    at = c.pc.addTransceiver("audio", direction="recvonly")
    c.pc.addTransceiver("video", direction="recvonly")
    _prefer(at, audio_mime)
    frames = {"audio": [], "video": []}

    async def pull(track):
        while True:
            try:
                frames[track.kind].append(await track.recv())
            except aiortc.mediastreams.MediaStreamError:
                return

    c.pc.on("track", lambda t: asyncio.ensure_future(pull(t)))
    await c.connect()
    end = time.monotonic() + 15
    while len(frames["audio"]) < seconds * 50 and time.monotonic() < end:
        await asyncio.sleep(0.05)
    stats = await c.pc.getStats()
    assert await c.delete() == 200
    await c.pc.close()
    return frames, stats


@pytest.mark.parametrize("runtime,audio_mime", [
    ("micropython", "audio/pcmu"), ("micropython", "audio/opus"),
    ("cpython", "audio/pcmu"), ("cpython", "audio/opus")])
def test_aiortc_decodes_the_devices_tone_and_video(runtime, audio_mime, request):
    gather_on_loopback()
    mpy = request.getfixturevalue("mpy_dir") if runtime == "micropython" else None
    dev = DeviceProcess(runtime, mpy, free_port(), "esp32s3").start()
    try:
        frames, _stats = asyncio.run(_receive_from_device(dev.port, audio_mime))
    finally:
        dev.stop()
    audio = frames["audio"]
    rate = 8000 if audio_mime == "audio/pcmu" else 48000
    assert len(audio) >= 100 and audio[0].sample_rate == rate
    chans = len(audio[0].layout.channels)
    pcm = array.array("h")
    for f in audio[5:]:  # past the decoder's start
        pcm.frombytes(bytes(f.planes[0])[0:f.samples * 2 * chans])
    mono = pcm[::chans]
    assert abs(zero_cross_hz(mono, rate) - TONE) < 5
    assert max(mono) > 4000  # a tone, not comfort noise
    video = frames["video"]
    assert len(video) >= 15  # the clip is 15 frames/s: most of them decoded
    assert (video[-1].width, video[-1].height) == (320, 240)


class ToneTrack(aiortc.MediaStreamTrack):
    """440 Hz, 48 kHz mono s16 in 20 ms frames (aiortc resamples for PCMU), paced in real time."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self.pts = 0
        self.start = None

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.pts / 48000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        samples = array.array("h", (int(12000 * math.sin(2 * math.pi * TONE * (self.pts + i)
                                                         / 48000)) for i in range(960)))
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = 48000
        frame.pts = self.pts
        frame.time_base = fractions.Fraction(1, 48000)
        self.pts += 960
        return frame


async def _send_to_rtc_micro(mime, packets=100):
    profile = boards.load("esp32s3")
    pc = PeerConnection(profile, x509.Certificate.generate("rtc_micro"), "127.0.0.1",
                        free_port())
    track = pc.add_track("audio", codecs=("pcmu", "opus"), direction="recvonly")
    got = []

    def on_event(machine, kind):
        if kind == events.RTP_PACKET:
            got.append(bytes(machine.out_data))

    client = aiortc.RTCPeerConnection(aiortc.RTCConfiguration(iceServers=[]))
    _prefer(client.addTransceiver(ToneTrack(), direction="sendonly"), mime)
    await client.setLocalDescription(await client.createOffer())
    answer = pc.accept_offer(client.localDescription.sdp, ticks_ms())
    drv = Driver(pc, "127.0.0.1", pc.local.port, profile.rx_buffer, on_event)
    task = asyncio.ensure_future(drv.run())
    await client.setRemoteDescription(aiortc.RTCSessionDescription(answer, "answer"))
    end = time.monotonic() + 15
    while len(got) < packets and time.monotonic() < end:
        await asyncio.sleep(0.05)
    stats = pc.rtp_stats()
    await client.close()
    drv.stop()
    await task
    return track, got, stats


@pytest.mark.parametrize("mime", ["audio/pcmu", "audio/opus"])
def test_rtc_micro_receives_aiortcs_audio(mime):
    gather_on_loopback()
    track, got, stats = asyncio.run(_send_to_rtc_micro(mime))
    assert track.codec == mime.split("/")[1] and len(got) >= 100
    inbound = [s for s in stats if s["type"] == "inbound-rtp"][0]
    assert inbound["packetsReceived"] >= len(got) and inbound["bytesReceived"] > 0
    if mime == "audio/pcmu":
        assert all(len(p) == 160 for p in got)  # 20 ms at 8 kHz
        pcm = bytearray(2 * 160 * len(got))
        for i, p in enumerate(got):
            g711.ulaw_decode(p, 0, 160, pcm, 2 * 160 * i)
        samples = array.array("h")
        samples.frombytes(bytes(pcm[2 * 160 * 5:]))
        assert abs(zero_cross_hz(samples, 8000) - TONE) < 5
    else:
        # Every packet is one Opus packet of 20 ms (RFC 7587 §4.2): 960 samples at 48 kHz.
        assert all(opus.packet_samples(p, 0, len(p)) == 960 for p in got)
