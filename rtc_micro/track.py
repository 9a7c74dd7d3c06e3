"""Media tracks: one audio or video m= section of a PeerConnection, negotiated and sent.

    mic = pc.add_track("audio", codecs=("opus", "pcmu"))     # before accept_offer()
    cam = pc.add_track("video", codecs=("h264",))
    answer = pc.accept_offer(offer, now)                     # mic.codec: "opus" (the offer's
                                                             # first choice we have), mic.pt
    ... once pc.state == "connected", mic.ready is True:
    mic.write_sample(opus_packet, now)                       # one encoded frame, one RTP packet
    cam.write_frame(access_unit, now, duration=6000)        # packetized (RFC 6184 / 7741)
    KEYFRAME_REQUEST from pc.poll(), with pc.out_track: send an IDR next.
    RTP_PACKET from pc.poll(): a received payload in pc.out_data, pc.out_track.receiver has
    ev_seq/ev_marker/ev_ts (or, with jitter=True, audio waits in track.receiver.jitter).

A track is an SDP capability (sdp.create_answer/create_offer call `answer(section)` and
`offer(mid)`): the codec is the first of the offer's payload types that the track lists (the
offerer's preference, RFC 3264 §6.1), H.264 only with packetization-mode=1 and a Baseline-family
profile-level-id (RFC 6184 §8.1), rtcp-fb and extmap only what both sides know. The RTP machines
behind it (media.RtpSender / RtpReceiver, a packetizer for video) are made once the
description is applied (`attach`), with sizes from the board profile; SRTP, demux and the
transmit drain belong to the PeerConnection.
"""

from rtc_micro import sdp
from rtc_micro.codecs import opus
from rtc_micro.codecs.h264 import H264Packetizer
from rtc_micro.codecs.vp8 import Vp8Packetizer
from rtc_micro.compat import urandom
from rtc_micro.errors import ConfigError, StateError
from rtc_micro.media import RtpReceiver, RtpSender

# codec name: (SDP encoding name, clock rate, rtpmap channels or "", payload type we offer)
CODECS = {
    "opus": ("opus", 48000, "/2", 111),  # RFC 7587 §7: always "opus/48000/2"
    "pcmu": ("PCMU", 8000, "", 0),
    "pcma": ("PCMA", 8000, "", 8),
    "h264": ("H264", 90000, "", 102),
    "vp8": ("VP8", 90000, "", 96),
}
_KIND_CODECS = {"audio": ("opus", "pcmu", "pcma"), "video": ("h264", "vp8")}
_VIDEO_FB = ("nack", "nack pli", "ccm fir", "goog-remb")  # RFC 4585, 5104; REMB draft
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"  # RFC 8843 §15
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
_OFFER_EXT = ((1, MID_URI), (2, ABS_SEND_TIME_URI))
_H264_FMTP = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id="
_DEFAULT_PLID = "42e01f"  # Constrained Baseline, level 3.1
_VIDEO_FPS = 30


def _fmtp_params(fmtp):
    """{"packetization-mode": "1", ...} from an a=fmtp value (setup time)."""
    out = {}
    if fmtp:
        for item in fmtp.split(";"):
            kv = item.strip().split("=", 1)
            out[kv[0].lower()] = kv[1].strip() if len(kv) > 1 else ""
    return out


def _h264_ok(params):
    """packetization-mode 1 and a profile a Constrained Baseline stream satisfies: Baseline
    (profile_idc 0x42) or any profile with constraint_set1 (0x40: decodable by Main) (RFC 6184
    §8.1; absent profile-level-id means 42000a)."""
    if params.get("packetization-mode", "0") != "1":
        return False
    plid = params.get("profile-level-id", "42000a")
    if len(plid) != 6:
        return False
    try:
        idc = int(plid[0:2], 16)
        iop = int(plid[2:4], 16)
    except ValueError:
        return False
    return idc == 0x42 or bool(iop & 0x40)


class Track:
    """One local media track (webrtc-pc RTCRtpTransceiver): `kind` "audio" or "video", `codecs`
    in our preference order for offers, `direction` what we do: "sendonly", "recvonly",
    "sendrecv". `jitter`: received audio goes to a JitterBuffer (`receiver.jitter`) instead of
    RTP_PACKET events."""

    def __init__(self, kind, codecs=None, direction="sendonly", stream_id="rtc_micro",
                 track_id=None, cname="rtc_micro", jitter=False):
        if kind not in _KIND_CODECS:
            raise ConfigError("track kind must be 'audio' or 'video', not %r" % (kind,))
        if codecs is None:
            codecs = _KIND_CODECS[kind]
        for c in codecs:
            if c not in _KIND_CODECS[kind]:
                raise ConfigError("%s codec %r is not supported: use some of %s"
                                  % (kind, c, ", ".join(_KIND_CODECS[kind])))
        if not codecs:
            raise ConfigError("a track needs at least one codec")
        if direction not in ("sendonly", "recvonly", "sendrecv"):
            raise ConfigError("direction must be 'sendonly', 'recvonly' or 'sendrecv', not %r"
                              % (direction,))
        self.kind = kind
        self.codecs = tuple(codecs)
        self.direction = direction
        self.stream_id = stream_id
        self.track_id = track_id or kind + "-" + "".join("%02x" % b for b in urandom(4))
        self.cname = cname
        self.jitter = jitter
        self.ssrc = urandom(4)  # ours; written into the SDP
        # Negotiated (by answer() / accept()):
        self.mid = None
        self.codec = None  # "opus", "pcmu", "h264", ...
        self.pt = -1
        self.clock_rate = 0
        self.send = False  # both sides agreed that we send
        self.recv = False
        self.feedback = ()  # the rtcp-fb values both sides know
        self.mid_id = 0  # RFC 8285 ids from the SDP (0: not negotiated)
        self.abs_send_time_id = 0
        self.remote_ssrc = None  # from the remote a=ssrc, when it says
        self.reason = ""  # why the last offered section was not taken
        # The machines (attach()):
        self.sender = None
        self.receiver = None
        self.packetizer = None
        self.ready = False  # SRTP keys are in: write_* sends
        self.dropped = 0  # frames written before ready or after the end

    # ---- SDP (sdp.create_answer / create_offer capability) ----------------------------------

    def answer(self, m):
        """Our MediaAnswer to the offered section `m`, or None (sdp answers it inactive)."""
        if m.kind != self.kind or (self.mid is not None and self.mid != m.mid):
            return None
        pt, fmtp = self._choose(m)
        if pt is None:
            names = []
            for p in m.fmts:
                c = m.codec(p)
                if c and c not in names:
                    names.append(c)
            self.reason = "offer's %s codecs (%s) include none of %s" % (
                self.kind, ", ".join(names), ", ".join(self.codecs))
            return None
        offered = m.direction or "sendrecv"
        self._bind(m, pt, offered in ("sendrecv", "recvonly"),
                   offered in ("sendrecv", "sendonly"))
        return sdp.MediaAnswer([pt], self._direction(), self._lines(m, pt, fmtp, m.extmap()))

    def offer(self, mid):
        """Our offer for a device-initiated session: every codec, mid and abs-send-time."""
        if self.mid is not None and self.mid != mid:
            return None
        self.mid = mid
        fmts = []
        lines = []
        for c in self.codecs:
            pt = str(CODECS[c][3])
            fmts.append(pt)
            lines.extend(self._codec_lines(pt, c, _H264_FMTP + _DEFAULT_PLID, _VIDEO_FB))
        for ident, uri in _OFFER_EXT:
            lines.append("a=extmap:%d %s" % (ident, uri))
        lines.extend(self._source_lines())
        return sdp.MediaAnswer(fmts, self.direction, lines)

    def accept(self, m):
        """Apply the remote answer's section to our offer (set_remote_description "answer")."""
        if m is None or not m.port:
            self.send = self.recv = False
            self.reason = "the answer rejected the %s section" % self.kind
            return
        pt, _ = self._choose(m)
        if pt is None:
            raise ConfigError("the answer's %s section has none of our codecs" % self.kind)
        answered = m.direction or "sendrecv"
        self._bind(m, pt, answered in ("sendrecv", "recvonly"),
                   answered in ("sendrecv", "sendonly"))
        self._extensions(m.extmap())

    def _choose(self, m):
        """The first offered payload type we can use, with our a=fmtp for it."""
        for pt in m.fmts:
            name = m.codec(pt)
            if name not in self.codecs:
                continue
            if name == "h264":
                params = _fmtp_params(m.fmtp(pt))
                if not _h264_ok(params):
                    continue
                return pt, _H264_FMTP + params.get("profile-level-id", "42000a")
            if name == "opus":
                return pt, "minptime=10;useinbandfec=1"
            return pt, None
        return None, None

    def _bind(self, m, pt, we_send, we_recv):
        name = m.codec(pt)
        self.mid = m.mid
        self.pt = int(pt)
        self.codec = name
        self.clock_rate = CODECS[name][1]
        self.send = we_send and self.direction != "recvonly"
        self.recv = we_recv and self.direction != "sendonly"
        fb = []
        if self.kind == "video":
            for v in m.rtcp_fb(pt):
                if v in _VIDEO_FB and v not in fb:
                    fb.append(v)
        self.feedback = tuple(fb)
        ssrcs = m.ssrcs()
        self.remote_ssrc = ssrcs[0] if ssrcs else None
        self.reason = ""

    def _direction(self):
        if self.send and self.recv:
            return "sendrecv"
        if self.send:
            return "sendonly"
        if self.recv:
            return "recvonly"
        return "inactive"

    def _extensions(self, extmap):
        self.mid_id = self.abs_send_time_id = 0
        for ident, uri in extmap:
            if uri == MID_URI and 1 <= ident <= 14:
                self.mid_id = ident
            elif uri == ABS_SEND_TIME_URI and 1 <= ident <= 14:
                self.abs_send_time_id = ident

    def _lines(self, m, pt, fmtp, extmap):
        lines = self._codec_lines(pt, self.codec, fmtp, self.feedback)
        self._extensions(extmap)
        if self.mid_id:
            lines.append("a=extmap:%d %s" % (self.mid_id, MID_URI))
        if self.abs_send_time_id:
            lines.append("a=extmap:%d %s" % (self.abs_send_time_id, ABS_SEND_TIME_URI))
        if m.rtcp_rsize:
            lines.append("a=rtcp-rsize")
        if self.send:
            lines.extend(self._source_lines())
        return lines

    def _codec_lines(self, pt, name, fmtp, feedback):
        enc, rate, chans, _ = CODECS[name]
        lines = ["a=rtpmap:%s %s/%d%s" % (pt, enc, rate, chans)]
        if name == "h264":
            lines.append("a=fmtp:%s %s" % (pt, fmtp))
        elif name == "opus":
            lines.append("a=fmtp:%s minptime=10;useinbandfec=1" % pt)
        if CODECS[name][1] == 90000:
            for v in feedback:
                lines.append("a=rtcp-fb:%s %s" % (pt, v))
        return lines

    def _source_lines(self):
        """a=msid (RFC 8830) and a=ssrc with cname and msid (RFC 5576)."""
        ssrc = int.from_bytes(self.ssrc, "big")
        msid = "%s %s" % (self.stream_id, self.track_id)
        return ["a=msid:" + msid, "a=ssrc:%d cname:%s" % (ssrc, self.cname),
                "a=ssrc:%d msid:%s" % (ssrc, msid)]

    # ---- machines ---------------------------------------------------------------------------

    def attach(self, profile, now):
        """Make the RTP machines the negotiation asks for (once; setup time)."""
        audio = self.kind == "audio"
        if self.send and self.sender is None:
            if audio:
                hist, slot, tx = profile.audio_history, profile.audio_slot_bytes, 0
            else:  # one frame's packets are queued at once: the ring holds the history
                hist, slot = profile.nack_history, profile.nack_slot_bytes
                tx = hist
            self.sender = RtpSender(profile, self.pt, self.clock_rate, ssrc=self.ssrc,
                                    cname=self.cname.encode(), mid=self.mid.encode(),
                                    mid_id=self.mid_id, abs_send_time_id=self.abs_send_time_id,
                                    now=now, history=hist, slot_bytes=slot, tx_slots=tx)
            if self.codec == "h264":
                self.packetizer = H264Packetizer(profile, self.sender.max_payload)
            elif self.codec == "vp8":
                self.packetizer = Vp8Packetizer(profile, self.sender.max_payload)
        if self.recv and self.receiver is None:
            self.receiver = RtpReceiver(profile, self.clock_rate, ssrc=self.ssrc,
                                        cname=self.cname.encode(), jitter=audio and self.jitter,
                                        nack="nack" in self.feedback,
                                        send_reports=self.sender is None, now=now)
            if self.sender is not None:
                self.sender.receiver = self.receiver  # its report block rides in our SR

    def release(self):
        self.ready = False
        self.sender = self.receiver = self.packetizer = None

    # ---- sending ----------------------------------------------------------------------------

    def _live_sender(self):
        """The sender while writes go out; None (the write counted in `dropped`) before SRTP is
        up, after the end, or when the negotiation left us not sending."""
        if not self.ready or self.sender is None:
            self.dropped += 1
            return None
        return self.sender

    def write_sample(self, data, now, duration=0, off=0, n=-1):
        """Send one encoded audio frame (G.711 bytes, or one Opus packet) as one RTP packet.
        `duration` in clock units (default: G.711 one per byte, Opus from the TOC byte). False
        (counted in `dropped`) until the connection is up."""
        s = self._live_sender()
        if s is None:
            return False
        if n < 0:
            n = len(data) - off
        if self.kind != "audio":
            raise StateError("write_sample() is for audio tracks: use write_frame()")
        s.send(data, off, n, 0, now)
        if not duration:
            duration = opus.packet_samples(data, off, n) if self.codec == "opus" else n
        s.advance(duration)
        return True

    def write_frame(self, data, now, duration=0, off=0, n=-1):
        """Send one video frame (H.264 access unit in Annex-B, or a VP8 frame), packetized
        straight into the RTP history slots; the marker bit ends the frame. `duration` in 90 kHz
        units (default 1/30 s). False (counted) until the connection is up."""
        s = self._live_sender()
        if s is None:
            return False
        if n < 0:
            n = len(data) - off
        pk = self.packetizer
        if pk is None:
            raise StateError("write_frame() is for video tracks: use write_sample()")
        pk.begin(data, off, n)
        while True:
            o = s.reserve()
            k = pk.next(s.slab, o)
            if not k:
                break
            s.commit(k, pk.marker, now)
        s.advance(duration or 90000 // _VIDEO_FPS)
        return True

    # ---- statistics -------------------------------------------------------------------------

    def stats(self):
        """W3C webrtc-stats dictionaries for this track: outbound-rtp (+ remote-inbound-rtp from
        the peer's reports) and inbound-rtp (allocates: not for a hot path)."""
        out = []
        mime = "%s/%s" % (self.kind, CODECS[self.codec][0] if self.codec else "")
        s = self.sender
        if s is not None:
            out.append({"type": "outbound-rtp", "kind": self.kind, "mid": self.mid,
                        "ssrc": int.from_bytes(s.ssrc, "big"), "mimeType": mime,
                        "packetsSent": s.packets, "bytesSent": s.octets,
                        "retransmittedPacketsSent": s.counters.nack_resent,
                        "nackCount": s.counters.nack_requests, "pliCount": s.pli_count,
                        "firCount": s.fir_count, "framesDropped": self.dropped})
            out.append({"type": "remote-inbound-rtp", "kind": self.kind,
                        "ssrc": int.from_bytes(s.ssrc, "big"),
                        "fractionLost": s.fraction_lost / 256,
                        "packetsLost": s.cumulative_lost,
                        "jitter": s.jitter / self.clock_rate,
                        "roundTripTime": s.rtt_ms / 1000 if s.rtt_ms >= 0 else None})
        r = self.receiver
        if r is not None and r.has_source:
            expected = r.cycles * 0x10000 + r.max_seq - r.base_seq + 1
            out.append({"type": "inbound-rtp", "kind": self.kind, "mid": self.mid,
                        "ssrc": int.from_bytes(r.remote_ssrc, "big"), "mimeType": mime,
                        "packetsReceived": r.received, "bytesReceived": r.octets,
                        "packetsLost": expected - r.received,
                        "jitter": r.interarrival_jitter() / self.clock_rate,
                        "packetsDuplicated": r.counters.duplicates,
                        "nackCount": r.nack_count, "pliCount": r.pli_count,
                        "firCount": r.fir_count})
        return out
