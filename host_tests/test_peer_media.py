# mptest-heap: 786432 (device + browser stand-in + test_peer and media bytecode as .mpy in one heap)
"""Audio and video through PeerConnection (rtc_micro/peer.py + track.py) on the simulator.

The browser stand-in of test_peer, plus DTLS-SRTP (RFC 5764) on its side: it unprotects and
parses what the device sends, sends its own RTP and RTCP (PLI), with the same modules.
"""

import boards
from host_tests.support import assert_no_alloc, raises
from host_tests.test_peer import _BRO, _DEV, Browser, SimPeer, _certs, _connected, \
    _offer
from rtc_micro import events, rtcp
from rtc_micro.codecs import g711
from rtc_micro.codecs.h264 import H264Depacketizer
from rtc_micro.codecs.vp8 import Vp8Depacketizer
from rtc_micro.drivers.sim import Network
from rtc_micro.errors import ConfigError
from rtc_micro.memory import copy_into
from rtc_micro.peer import PeerConnection
from rtc_micro.rtp import RtpHeader, is_rtcp, pull_header, push_header
from rtc_micro.srtp import SrtpSession

# The esp32 board's own sizes (media tests send no large messages); 3 KB video frames.
_P = boards.load("esp32").derive(nack_history=8, video_frame_bytes=4096, video_tracks=1,
                                   audio_tracks=1)
_BROWSER_SSRC = 0x0BADCAFE

_AV = ("m=audio 9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=sendrecv\r\n"
       "a=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\n"
       "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=ssrc:%d cname:browser\r\n"
       "m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\na=recvonly\r\n"
       "a=rtcp-mux\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n"
       "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"
       "a=rtcp-fb:102 nack\r\na=rtcp-fb:102 nack pli\r\na=rtcp-fb:102 ccm fir\r\n"
       % _BROWSER_SSRC)


class MediaBrowser(Browser):
    """Adds SRTP: records the RTP it receives (pt, seq, marker, ts, payload), sends its own."""

    def __init__(self, profile, cert):
        super().__init__(profile, cert)
        self.rtp = []
        self.rtcp = []  # RTCP packet types received
        self.queue = []
        self.tx = self.rx = None
        self.hdr = RtpHeader()

    def _keys(self):
        if self.rx is None and self.dtls.connected:
            ck, cs, sk, ss = self.dtls.srtp_keys()  # the device is the DTLS client
            prof = self.dtls.srtp_profile
            self.tx = SrtpSession(prof, sk, ss, self.profile)
            self.rx = SrtpSession(prof, ck, cs, self.profile)
        return self.rx is not None

    def handle_datagram(self, buf, n, addr, now):
        if not 128 <= buf[0] < 192:
            super().handle_datagram(buf, n, addr, now)
            return
        assert self._keys()
        if is_rtcp(buf, n):
            m = self.rx.unprotect_rtcp(buf, n)
            assert m > 0
            cur = rtcp.RtcpCursor()
            cur.reset(buf, 0, m)
            while cur.next() > 0:
                self.rtcp.append(cur.pt)
            return
        m = self.rx.unprotect_rtp(buf, n)
        assert m > 0
        h = self.hdr
        assert pull_header(buf, 0, m, h)
        self.rtp.append((h.pt, h.seq, h.marker, h.timestamp(),
                         bytes(buf[h.payload_off:h.payload_off + h.payload_len])))

    def send_rtp(self, pt, seq, ts, payload):
        self._keys()
        b = bytearray(1500)
        o = push_header(b, 0, pt, seq, ts, _BROWSER_SSRC)
        b[o:o + len(payload)] = payload
        n = self.tx.protect_rtp(b, o + len(payload))
        self.queue.append(b[0:n])

    def send_pli(self, media_ssrc):
        b = bytearray(100)
        o = rtcp.push_rr(b, 0, _BROWSER_SSRC.to_bytes(4, "big"), 0, 0)
        o = rtcp.push_pli(b, o, _BROWSER_SSRC.to_bytes(4, "big"), 0, media_ssrc, 0)
        n = self.tx.protect_rtcp(b, o)
        self.queue.append(b[0:n])

    def poll_transmit(self):
        if self.queue:
            self.out_data = self.queue.pop(0)
            return len(self.out_data)
        return super().poll_transmit()


def _av_session(video=("h264",)):
    dev_cert, bro_cert = _certs()
    pc = PeerConnection(_P, dev_cert, _DEV[0], _DEV[1])
    mic = pc.add_track("audio", codecs=("pcmu",), direction="sendrecv")
    cam = pc.add_track("video", codecs=video)
    offer = _offer(bro_cert.fingerprint()).replace("BUNDLE 0", "BUNDLE 0 1 2") + _AV
    bro = MediaBrowser(_P, bro_cert)
    bro.set_answer(pc.accept_offer(offer, 0))
    dev = SimPeer(pc)
    net = Network(seed=3)
    net.add(dev, _DEV, _BRO)
    net.add(bro, _BRO, _DEV)
    assert net.run(until=lambda: _connected(pc, bro), timeout_ms=20000)
    return net, pc, dev, bro, mic, cam


def _access_unit(idr_bytes):
    """(Annex-B IDR access unit: AUD, SPS, PPS, one IDR slice; what a depacketizer rebuilds:
    the same NAL units after 4-byte start codes, without the AUD). No zero bytes in the NALs."""
    sps = b"\x67\x42\xe0\x1f\xda\x02\x80"
    pps = b"\x68\xce\x3c\x80"
    idr = bytearray(b"\x65\x88")
    for i in range(idr_bytes):
        idr.append((i * 7 + 1) & 255 or 3)
    sc = b"\x00\x00\x00\x01"
    au = sc + b"\x09\xf0" + sc + sps + sc + pps + b"\x00\x00\x01" + idr
    return au, sc + sps + sc + pps + sc + idr


def test_audio_reaches_the_browser_as_srtp_pcmu():
    net, pc, dev, bro, mic, cam = _av_session()
    assert mic.ready and cam.ready and mic.codec == "pcmu"
    pcm = bytearray(320)
    for i in range(160):  # a ramp: every 20 ms frame differs from silence
        v = (i * 200 - 16000) & 0xFFFF
        pcm[2 * i] = v & 255
        pcm[2 * i + 1] = v >> 8
    frame = bytearray(160)
    g711.ulaw_encode(pcm, 0, 160, frame, 0)
    for _ in range(10):
        assert mic.write_sample(frame, net.now)
        net.run(timeout_ms=20)
    assert net.run(until=lambda: len(bro.rtp) == 10, timeout_ms=2000)
    pts = [r[0] for r in bro.rtp]
    seqs = [r[1] for r in bro.rtp]
    tss = [r[3] for r in bro.rtp]
    assert pts == [0] * 10 and all(r[4] == bytes(frame) for r in bro.rtp)
    assert [(s - seqs[0]) & 0xFFFF for s in seqs] == list(range(10))
    assert [(t - tss[0]) & 0xFFFFFFFF for t in tss] == [160 * k for k in range(10)]
    st = [s for s in pc.rtp_stats() if s["type"] == "outbound-rtp" and s["kind"] == "audio"][0]
    assert st["packetsSent"] == 10 and st["bytesSent"] == 1600 and st["mimeType"] == "audio/PCMU"
    assert pc.counters.srtp_failed == 0


def test_video_frames_are_packetized_and_a_pli_asks_for_a_keyframe():
    net, pc, dev, bro, mic, cam = _av_session()
    au, rebuilt = _access_unit(3000)
    assert cam.write_frame(au, net.now, duration=6000)
    assert net.run(until=lambda: bro.rtp and bro.rtp[-1][2] == 1, timeout_ms=2000)
    dep = H264Depacketizer(_P)
    n = 0
    for pt, seq, marker, _ts, payload in bro.rtp:
        assert pt == cam.pt
        n = dep.push(payload, 0, len(payload), seq, marker)
    assert len(bro.rtp) >= 4  # STAP-A (SPS+PPS), then the IDR in FU-A fragments
    assert n and dep.keyframe
    assert bytes(dep.frame[0:n]) == rebuilt
    assert len(set(r[3] for r in bro.rtp)) == 1  # one frame, one timestamp
    bro.send_pli(cam.ssrc)
    assert net.run(until=lambda: ("keyframe", "video") in dev.states, timeout_ms=2000)
    st = [s for s in pc.rtp_stats() if s["type"] == "outbound-rtp" and s["kind"] == "video"][0]
    assert st["pliCount"] == 1 and st["mimeType"] == "video/H264"


def test_vp8_frames_are_packetized_when_negotiated():
    net, pc, dev, bro, mic, cam = _av_session(video=("vp8",))
    assert cam.codec == "vp8" and cam.pt == 96
    frame = bytes((i * 13 + 1) & 255 for i in range(2500))  # three packets at mtu 1200
    assert cam.write_frame(frame, net.now)
    assert net.run(until=lambda: bro.rtp and bro.rtp[-1][2] == 1, timeout_ms=2000)
    dep = Vp8Depacketizer(_P)
    n = 0
    for _pt, seq, marker, _ts, payload in bro.rtp:
        n = dep.push(payload, 0, len(payload), seq, marker)
    assert len(bro.rtp) == 3 and bytes(dep.frame[0:n]) == frame


def test_browser_audio_is_received_and_counted():
    net, pc, dev, bro, mic, cam = _av_session()
    for k in range(5):
        bro.send_rtp(0, 100 + k, 8000 + 160 * k, bytes([k]) * 160)
    assert net.run(until=lambda: len(dev.media) == 5, timeout_ms=2000)
    assert dev.media == [("audio", 100 + k, bytes([k]) * 160) for k in range(5)]
    inbound = [s for s in pc.rtp_stats() if s["type"] == "inbound-rtp"][0]
    assert inbound["packetsReceived"] == 5 and inbound["bytesReceived"] == 800
    assert inbound["ssrc"] == _BROWSER_SSRC and inbound["packetsLost"] == 0
    # A forged packet (bad tag) is dropped and counted, never raised.
    bad = bytearray(bro.queue[0] if bro.queue else b"\x80\x00" + bytes(40))
    bad[-1] ^= 1
    pc.handle_datagram(bad, len(bad), _BRO, net.now)
    assert pc.counters.srtp_failed == 1


def test_reports_flow_both_ways():
    net, pc, dev, bro, mic, cam = _av_session()
    frame = bytes(160)
    for _ in range(300):  # 6 s of audio: past the first RTCP intervals (RFC 3550 §6.2)
        mic.write_sample(frame, net.now)
        net.run(timeout_ms=20)
        del bro.rtp[:]  # 300 payloads would crowd a board-sized test heap
    assert rtcp.SR in bro.rtcp and rtcp.SDES in bro.rtcp


def test_close_sends_bye_and_release_drops_media():
    net, pc, dev, bro, mic, cam = _av_session()
    mic.write_sample(bytes(160), net.now)
    pc.close(net.now)
    assert net.run(until=lambda: rtcp.BYE in bro.rtcp, timeout_ms=2000)
    assert not mic.ready and mic.write_sample(bytes(160), net.now) is False
    pc.release()
    assert mic.sender is None and pc.srtp_tx is None


def test_audio_write_and_send_allocate_nothing():
    net, pc, dev, bro, mic, cam = _av_session()
    frame = bytearray(160)
    assert assert_no_alloc(mic.write_sample, frame, net.now)
    while pc.poll():
        pass
    mic.write_sample(frame, net.now)
    mic.write_sample(frame, net.now)
    # Copy to the SRTP buffer, protect, and the datagram's view (kept per length): nothing new.
    assert assert_no_alloc(pc.poll) == events.TRANSMIT
    assert len(pc.out_data) == mic.sender.header_len + 160 + 16  # the GCM tag


def test_board_limits_on_tracks_say_what_to_change():
    pc = PeerConnection(boards.load("esp32"), _certs()[0], _DEV[0], _DEV[1])
    for kind in ("audio", "video"):
        e = raises(ConfigError, pc.add_track, kind)
        assert kind + "_tracks" in str(e) and "esp32s3" in str(e)
    pc = PeerConnection(boards.load("picow").derive(max_tracks=1), _certs()[0], _DEV[0], _DEV[1])
    pc.add_track("audio")
    assert "max_tracks" in str(raises(ConfigError, pc.add_track, "audio"))


def test_receiving_srtp_audio_allocates_nothing():
    net, pc, dev, bro, mic, cam = _av_session()
    for k in range(2):  # warm-up and locked call: two fresh packets (a repeat is a replay)
        bro.send_rtp(0, 500 + k, 1000 + 160 * k, bytes(160))
    pkts = bro.queue[:]
    del bro.queue[:]
    buf = bytearray(1500)
    at = bytearray(1)

    def feed():
        p = pkts[at[0]]
        at[0] += 1
        copy_into(buf, 0, p, 0, len(p))
        pc.handle_datagram(buf, len(p), _BRO, net.now)

    assert_no_alloc(feed)
    assert mic.receiver.received == 2 and pc.counters.srtp_failed == 0
