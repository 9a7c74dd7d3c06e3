"""PeerConnection: ICE-lite, DTLS and SCTP on one UDP 5-tuple, behind one drain (RFC 8829, 8835).

    pc = PeerConnection(profile, certificate, host, port)
    answer = pc.accept_offer(offer_text, now)          # JSEP answer, `a=setup:active`
    pc.handle_datagram(buf, n, addr, now) / pc.handle_timeout(now)
    while kind := pc.poll():                           # drain after every call
        TRANSMIT          -> sendto(pc.out_data, pc.out_addr)
        CONNECTION_STATE  -> pc.state ("new" ... "closed"), pc.ev_reason
        CHANNEL_OPEN      -> pc.out_channel (a datachannel.Channel: label, id, ...)
        CHANNEL_MESSAGE   -> pc.out_channel, pc.out_data (memoryview, valid until next poll),
                             pc.out_binary
        CHANNEL_CLOSED / CHANNEL_BUFFERED_LOW -> pc.out_channel
        KEYFRAME_REQUEST  -> pc.out_track (PLI/FIR from the peer: send a keyframe next)
        RTP_PACKET        -> pc.out_track, pc.out_data (the payload; pc.out_track.receiver has
                             ev_seq, ev_marker, ev_ts)
    ch = pc.create_data_channel("telemetry", ordered=False, max_retransmits=0)
    pc.send(ch, "text" or b"binary", now)
    mic = pc.add_track("audio", codecs=("opus", "pcmu"))     # before accept_offer (track.py)
    mic.write_sample(frame, now)                             # once mic.ready

As a client (of a device, say) it makes the offer instead: `offer = pc.create_offer()`, then
`pc.set_remote_description(answer, "answer", now)`; it is then a full ICE agent in the
controlling role (ice_control.IceControllingAgent), as it is when the remote says `a=ice-lite`.

Datagrams are sorted by first byte (RFC 7983 §7): 0-3 STUN -> ice, 20-63 DTLS -> dtls (only from
an address that passed an authenticated ICE check), 128-191 SRTP/SRTCP (RFC 5761 §4: RTCP by
payload type) -> unprotected in place, RTP to the track whose receiver has that SSRC, RTCP to
every track; anything else dropped and counted. `poll()` pulls lazily from the inner machines, so
a message's view stays valid until the next poll without a copy. Outgoing RTP/RTCP is copied
from the sender's slot (which stays plaintext for NACK resends) to one buffer and protected there.
"""

from rtc_micro import events, sdp
from rtc_micro.compat import const, ticks_diff, ticks_min, urandom
from rtc_micro.memory import copy_into, renew
from rtc_micro.rtp import is_rtcp, same4
from rtc_micro.datachannel import DataChannels
from rtc_micro.dtls import Connection
from rtc_micro.dtls.connection import take_buffers as take_dtls_buffers
from rtc_micro.errors import ConfigError, StateError
from rtc_micro.ice import IceLiteAgent
from rtc_micro.sctp.association import Association
from rtc_micro.sctp.association import take_buffers as take_sctp_buffers

# W3C RTCPeerConnectionState names (webrtc-pc §4.3.3).
NEW = "new"
CONNECTING = "connecting"
CONNECTED = "connected"
DISCONNECTED = "disconnected"
FAILED = "failed"
CLOSED = "closed"

_VIEWS = const(8)  # datagram lengths whose SRTP-buffer view is kept (_media_view)
_ICE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"


def _ice_text(n):
    """`n` random ice-chars (RFC 8839 §5.4)."""
    r = urandom(n)
    s = ""
    for b in r:
        s += _ICE_CHARS[b & 63]
    return s


def _fire(machine, now):
    at = machine.poll_timeout()
    if at is not None and ticks_diff(at, now) <= 0:
        machine.handle_timeout(now)


class Counters:
    """Transport-level counts (W3C RTCTransportStats / RTCIceCandidatePairStats names in
    `PeerConnection.stats()`)."""

    def __init__(self):
        self.packets_received = 0
        self.bytes_received = 0
        self.packets_sent = 0
        self.bytes_sent = 0
        self.unverified = 0  # DTLS from an address without a successful ICE check
        self.media_dropped = 0  # SRTP/SRTCP before keys (no media negotiated, DTLS not up)
        self.srtp_failed = 0  # SRTP/SRTCP that did not authenticate (or replays)
        self.media_unrouted = 0  # RTP for no receiving track (unknown SSRC / payload type)
        self.malformed = 0  # first byte in no RFC 7983 range
        self.no_route = 0  # DTLS output before any peer address is known
        self.dtls_full = 0  # SCTP packets dropped: DTLS transmit ring full
        self.messages_received = 0
        self.messages_sent = 0
        self.messages_deferred = 0  # defer_message() calls (the application's back-pressure)


class PeerConnection:
    """One session with one browser (or any WebRTC peer): ICE-lite when it answers, a full
    controlling ICE agent when it offers or the peer is lite."""

    def __init__(self, profile, certificate, host, port, setup="active", tracks=(),
                 x25519_pool=None, mem=None):
        """`mem`: a `memory.Buffers` the DTLS and SCTP buffers and machines and the ICE agent
        come from (a device's session slot, reused session after session; see `reserve`): one
        session at a time, so stop driving a released one before the slot's next begins.
        None: made for this session."""
        self.profile = profile
        self.mem = mem
        self.certificate = certificate
        self.x25519_pool = x25519_pool  # crypto.ec.KeyPool of ECDHE keys made while idle
        self.local = sdp.LocalTransport(_ice_text(8), _ice_text(24), certificate.fingerprint(),
                                        host, port, setup=setup,
                                        max_message_size=profile.max_message_size)
        self.tracks = list(tracks)  # track.Track, also the SDP media capabilities
        self.srtp_tx = None  # SrtpSession for what we send, once DTLS is up
        self.srtp_rx = None
        self._srtp_buf = None
        self._srtp_mv = None
        self._views = None  # {length: view of _srtp_buf} (_media_view)
        ufrag, pwd = self.local.ice_ufrag, self.local.ice_pwd
        self.ice = (IceLiteAgent(profile, ufrag, pwd) if mem is None else
                    mem.reuse(IceLiteAgent, profile, ufrag, pwd))
        self.dtls = None
        self.sctp = None
        self.channels = None  # datachannel.DataChannels over self.sctp
        self.role = None  # DTLS "client" or "server", known once the descriptions are set
        self.remote = None  # the remote SessionDescription, until our answer is made
        self._remote_ice = None  # (ice-ufrag, fingerprint) of the remote transport
        self.remote_max_message_size = 0
        self.counters = Counters()
        self.state = NEW
        self._sess_id = sdp.session_id()
        self._version = 0
        self._offered = False  # we sent an offer and wait for the answer
        self._now = 0
        self._dtls_addr = None  # where DTLS goes before ICE selects a pair
        self._dtls_started = False
        # Outputs of poll(), reused.
        self.out_data = None
        self.out_addr = None
        self.out_channel = None
        self.out_track = None
        self.out_binary = False
        self.ev_reason = ""
        self.ev_state = NEW
        # Own events (state changes): a small ring of (state, reason).
        n = profile.event_slots
        self._ev_state = [None] * n
        self._ev_reason = [None] * n
        self._ev_head = 0
        self._ev_n = 0
        self.events_dropped = 0

    # ---- signaling (setup time: allocation is fine here) -----------------------------------

    def accept_offer(self, text, now):
        """Apply the remote offer and return our answer (SDP text). ConfigError when the offer
        cannot be served (the message says what is missing)."""
        self.set_remote_description(text, "offer", now)
        return self.create_answer()

    def set_remote_description(self, text, kind, now):
        """`kind` "offer" (we answer next) or "answer" (to our create_offer())."""
        self._now = now
        if self.state == CLOSED:
            raise StateError("the PeerConnection is closed: make a new one")
        desc = sdp.parse(text)
        if kind == "offer":
            # Validates the offer and raises what is missing before anything changes.
            sdp.create_answer(desc, self.local, self.tracks, self._sess_id, 1)
            tp = desc.transport()
            setup = sdp.answer_setup(tp.setup, self.local.setup)
        elif kind == "answer":
            if not self._offered:
                raise StateError("set_remote_description(answer) without create_offer() first")
            tp = sdp.check_answer(desc)
            setup = "actpass"
        else:
            raise ConfigError("kind must be 'offer' or 'answer', not %r" % (kind,))
        if self._remote_ice is not None:
            if self._remote_ice != (tp.ice_ufrag, tp.fingerprint):
                raise StateError("ICE restart / new certificate is not supported: close this "
                                 "session and start a new one")
            self.remote = desc  # renegotiation on the same transport (RFC 8829 §5.7)
            self._attach_tracks(desc, kind, now)
            return
        self.remote = desc
        self._remote_ice = (tp.ice_ufrag, tp.fingerprint)
        self.role = sdp.dtls_role(setup, tp.setup)
        if desc.ice_lite:
            self._controlling()  # RFC 8445 §6.1.1: the full agent controls a lite peer
        self.ice.set_remote(tp.ice_ufrag, tp.ice_pwd)
        if not self.local.ice_lite:
            for c in tp.candidates:
                if c.component == 1 and c.transport == "udp":
                    self.ice.add_candidate((c.ip, c.port), now)
        self.dtls = renew(self.mem, Connection, self.profile, self.role, self.certificate,
                          tp.fingerprint_alg + " " + tp.fingerprint,
                          x25519_pool=self.x25519_pool, mem=self.mem)
        dc = desc.datachannel()
        if dc is not None:
            rport = dc.sctp_port if dc.sctp_port is not None else sdp.DEFAULT_SCTP_PORT
            self.sctp = renew(self.mem, Association, self.profile, self.local.sctp_port, rport,
                              self.mem)
            self.channels = DataChannels(self.sctp, self.role == "client")
            self.remote_max_message_size = sdp.remote_max_message_size(
                dc, self.profile.max_message_size)
        self._attach_tracks(desc, kind, now)
        if kind == "answer":
            self.remote = None
        self._set_state(CONNECTING, "remote description applied: waiting for ICE checks")

    def create_answer(self):
        if self.remote is None or self._offered:
            raise StateError("create_answer() needs a remote offer first")
        self._version += 1
        answer = sdp.create_answer(self.remote, self.local, self.tracks, self._sess_id,
                                   self._version)
        # The parsed offer (its text and sections: ~17 KB for Chromium's audio+video offer) is
        # not needed once answered: a small heap gets it back for the session's lifetime.
        self.remote = None
        return answer

    def create_offer(self):
        """A device-initiated offer with a data-channel section (answer: set_remote_description
        with kind "answer")."""
        if self._remote_ice is not None:
            raise StateError("renegotiation offers from the device are not supported")
        self._offered = True
        self._controlling()  # the offerer is a full agent, controlling (RFC 8445 §6.1.1)
        self._version += 1
        return sdp.create_offer(self.local, self.tracks, self._sess_id, self._version)

    def _attach_tracks(self, desc, kind, now):
        """Make the RTP machines of every negotiated track (new ones too, on renegotiation)."""
        for t in self.tracks:
            if kind == "answer" and t.mid is not None:
                t.accept(desc.section(t.mid))
            if t.mid is not None:
                t.attach(self.profile, now)
        if self.dtls is not None and self.dtls.connected and self.srtp_tx is None:
            self._start_srtp()
        elif self.srtp_tx is not None:
            for t in self.tracks:
                t.ready = t.sender is not None

    def _controlling(self):
        """Be a full ICE agent in the controlling role (a client, or a lite peer's answerer)
        instead of the ICE-lite device; descriptions then omit `a=ice-lite`."""
        if self.local.ice_lite:
            from rtc_micro.ice_control import IceControllingAgent  # a device never needs it

            self.local.ice_lite = False
            self.ice = IceControllingAgent(self.profile, self.local.ice_ufrag,
                                           self.local.ice_pwd)

    # ---- API --------------------------------------------------------------------------------

    def add_track(self, kind, codecs=None, direction="sendonly", **options):
        """A media track (track.Track: kind "audio"/"video", codecs, direction, stream_id,
        track_id, cname, jitter). Before accept_offer()/create_offer(); a track added to a live
        session joins at the next offer (renegotiation)."""
        from rtc_micro.track import Track  # media code loads only for sessions with media

        t = Track(kind, codecs, direction, **options)
        p = self.profile
        if len(self.tracks) >= p.max_tracks:
            raise ConfigError("the %s profile allows %d tracks (max_tracks)"
                              % (p.name, p.max_tracks))
        limit = p.video_tracks if kind == "video" else p.audio_tracks
        if sum(1 for x in self.tracks if x.kind == kind) >= limit:
            raise ConfigError("the %s profile allows %d %s tracks (%s_tracks): more media needs "
                              "a board with more RAM, e.g. esp32s3 with PSRAM"
                              % (p.name, limit, kind, kind))
        self.tracks.append(t)
        return t

    def create_data_channel(self, label, ordered=True, max_retransmits=None,
                            max_packet_life_time=None, protocol="", negotiated=False, id=None):
        """A data channel (RFC 8831 §6.4); CHANNEL_OPEN follows once the peer acknowledges.
        Needs the remote description (the transport) first."""
        if self.channels is None:
            raise StateError("no data-channel transport yet: set the remote description "
                             "(with an m=application section) first")
        return self.channels.create_channel(label, ordered, max_retransmits,
                                            max_packet_life_time, protocol, negotiated, id,
                                            self._now)

    def send(self, channel, data, now, off=0, n=None, binary=None):
        """Send one message on `channel` (str: text, buffer: binary unless `binary` says);
        False when the send buffer is full (pace with CHANNEL_BUFFERED_LOW)."""
        self._now = now
        if self.channels.send(channel, data, off, n, binary, now):
            self.counters.messages_sent += 1
            return True
        return False

    def defer_message(self):
        """While handling CHANNEL_MESSAGE: do not take this message now. It stays in SCTP's
        receive window, no later message is delivered before it, and after `resume_messages()`
        it comes again (same channel, same bytes; not counted twice). The peer is held back by
        the closing window (RFC 9260 §6.2): an application whose send buffer is full, say, pushes
        back instead of copying the message."""
        if self.sctp is None:
            raise StateError("defer_message() without data channels")
        self.sctp.hold()
        self.counters.messages_deferred += 1

    def resume_messages(self):
        """Deliver a deferred message again at the next poll."""
        if self.sctp is not None:
            self.sctp.resume()

    @property
    def message_deferred(self):
        """True while a deferred message waits for `resume_messages()`."""
        return self.sctp is not None and self.sctp.holding

    def close_channel(self, channel, now):
        self._now = now
        self.channels.close(channel, now)

    def close(self, now):
        """Close SCTP, DTLS (close_notify) and ICE; emits CONNECTION_STATE "closed"."""
        if self.state == CLOSED:
            return
        self._now = now
        if self.sctp is not None:
            self.sctp.abort("closed by the application", now)
        for t in self.tracks:
            if t.sender is not None and t.ready:
                t.sender.close(now)  # BYE (RFC 3550 §6.6)
            if t.receiver is not None:
                t.receiver.send_reports = False
            t.ready = False
        if self.dtls is not None:
            self.dtls.close(now)
        self.ice.close(now)
        self._set_state(CLOSED, "closed by the application")

    def release(self):
        """After `close()` or failure: drop DTLS, SCTP and the channels (most of a session's
        heap). MicroPython's GC is conservative: a stale pointer to this object (a register, a
        dead stack slot) can keep it alive after its owner let go, and with it every buffer it
        references; released, only the small ICE agent and this shell remain."""
        if self.state not in (CLOSED, FAILED):
            raise StateError("release() is for a closed or failed connection: close() first")
        if self.dtls is not None:
            self.dtls.close(self._now)  # a handshake cut short gives its shared buffers back
        if self.mem is not None:
            self.mem.retire()  # the slot's machines keep nothing of this session
        self.dtls = None
        self.sctp = None
        self.channels = None
        self.srtp_tx = self.srtp_rx = self._srtp_buf = self._srtp_mv = self._views = None
        for t in self.tracks:
            t.release()
        self.out_track = None
        self.out_data = None  # a view into an SCTP or DTLS buffer keeps that buffer alive
        self.out_channel = None  # a channel keeps its association alive
        self.remote = None

    @staticmethod
    def reserve(profile, mem, certificate=None):
        """Make a session slot's buffers now (at boot, while the heap is in one piece): every
        session given `mem` then reuses them instead of allocating its own. With `certificate`,
        also the slot's DTLS and SCTP machines, ICE agent and a PeerConnection for
        `mem.reuse(PeerConnection, ...)` (their attribute tables are 0.6-3 KB blocks that a heap
        with a session up may no longer have in one piece)."""
        take_dtls_buffers(profile, mem)
        take_sctp_buffers(profile, mem)
        if certificate is not None:
            mem.renew(Connection, profile, "client", certificate, mem=mem).close(0)  # lease back
            mem.renew(Association, profile, mem=mem)
            mem.reuse(PeerConnection, profile, certificate, "0.0.0.0", 0, mem=mem)
            mem.retire()

    def stats(self):
        """Transport and candidate-pair stats with W3C webrtc-stats names (allocates a dict)."""
        c = self.counters
        st = {
            "state": self.state,
            "packetsSent": c.packets_sent,
            "packetsReceived": c.packets_received,
            "bytesSent": c.bytes_sent,
            "bytesReceived": c.bytes_received,
            "messagesReceived": c.messages_received,
            "messagesSent": c.messages_sent,
            "dataChannelsOpened": 0 if self.channels is None else len(self.channels._by_id),
            "dtlsState": "new" if self.dtls is None else (
                "connected" if self.dtls.connected else "connecting"),
            "dtlsRole": self.role or "unknown",
            "iceRole": "controlled" if self.local.ice_lite else "controlling",
            "iceLocalUsernameFragment": self.local.ice_ufrag,
            "selectedCandidatePairRemote": self.ice.selected_addr,
            "srtpFailed": c.srtp_failed,
            "rtp": self.rtp_stats(),
        }
        return st

    def rtp_stats(self):
        """W3C outbound-rtp / remote-inbound-rtp / inbound-rtp dictionaries of every track."""
        out = []
        for t in self.tracks:
            out.extend(t.stats())
        return out

    # ---- machine contract ------------------------------------------------------------------

    def handle_datagram(self, buf, n, addr, now):
        """One UDP datagram from `addr` (RFC 7983 demux). Never raises on peer input."""
        self._now = now
        c = self.counters
        c.packets_received += 1
        c.bytes_received += n
        if n < 1:
            c.malformed += 1
            return
        b = buf[0]
        if b < 4:
            self.ice.handle_datagram(buf, n, addr, now)
        elif 20 <= b < 64:
            if self.dtls is None or not self._verified(addr):
                c.unverified += 1
                return
            self._dtls_addr = addr
            self.dtls.handle_packet(buf, n, now)
        elif 128 <= b < 192:
            self._handle_media(buf, n, addr, now)
        else:
            c.malformed += 1

    def _handle_media(self, buf, n, addr, now):
        c = self.counters
        rx = self.srtp_rx
        if rx is None:
            c.media_dropped += 1
            return
        if not self._verified(addr):
            c.unverified += 1
            return
        if is_rtcp(buf, n):
            m = rx.unprotect_rtcp(buf, n)
            if m < 0:
                c.srtp_failed += 1
                return
            for t in self.tracks:  # each machine keeps the reports about its own SSRC
                if t.sender is not None:
                    t.sender.handle_packet(buf, m, now)
                if t.receiver is not None:
                    t.receiver.handle_packet(buf, m, now)
            return
        m = rx.unprotect_rtp(buf, n)
        if m < 0:
            c.srtp_failed += 1
            return
        t = self._route(buf)
        if t is None:
            c.media_unrouted += 1
            return
        t.receiver.handle_packet(buf, m, now)

    def _route(self, buf):
        """The receiving track for an RTP packet: by SSRC once known, else the first track
        still without a source whose payload type matches (RFC 8843 §9.2 fallback)."""
        pt = buf[1] & 127
        spare = None
        for t in self.tracks:
            r = t.receiver
            if r is None:
                continue
            if r.has_source:
                if same4(buf, 8, r.remote_ssrc, 0):
                    return t
            elif spare is None and pt == t.pt and (
                    t.remote_ssrc is None or t.remote_ssrc == int.from_bytes(buf[8:12], "big")):
                spare = t
        return spare

    def _verified(self, addr):
        """True when `addr` sent us an authenticated ICE check (RFC 8445 §7.3.1.4)."""
        sel = self.ice.selected_addr
        if sel is not None and sel == addr:
            return True
        return addr in self.ice.pairs  # rare: before nomination (allocates a short list)

    def handle_timeout(self, now):
        """Fan `now` out to the machines whose deadline has come (no tuple: runs every tick)."""
        self._now = now
        _fire(self.ice, now)
        if self.dtls is not None:
            _fire(self.dtls, now)
        if self.channels is not None:
            _fire(self.channels, now)
        if self.srtp_tx is not None:
            for t in self.tracks:
                if t.sender is not None:
                    _fire(t.sender, now)
                if t.receiver is not None:
                    _fire(t.receiver, now)

    def poll_timeout(self):
        t = self.ice.poll_timeout()
        if self.dtls is not None:
            t = ticks_min(t, self.dtls.poll_timeout())
        if self.channels is not None:
            t = ticks_min(t, self.channels.poll_timeout())
        if self.srtp_tx is not None:
            for tr in self.tracks:
                if tr.sender is not None:
                    t = ticks_min(t, tr.sender.poll_timeout())
                if tr.receiver is not None:
                    t = ticks_min(t, tr.receiver.poll_timeout())
        return t

    def poll(self):
        """The next output: TRANSMIT, CONNECTION_STATE, CHANNEL_*, or NONE (0) when drained."""
        ice = self.ice
        dtls = self.dtls
        sctp = self.sctp
        chans = self.channels
        while True:
            if self._ev_n:
                return self._pop_event()
            n = ice.poll_transmit()
            if n:
                return self._transmit(ice.out_data[0:n], n, ice.out_addr)
            if self.srtp_tx is not None:  # media first: it is real-time (and a BYE precedes
                k = self._poll_media()    # close_notify)
                if k:
                    return k
            if dtls is not None:
                n = dtls.poll_transmit()
                if n:
                    addr = ice.selected_addr or self._dtls_addr
                    if addr is None:
                        self.counters.no_route += 1
                        continue
                    return self._transmit(dtls.out_data[0:n], n, addr)
            k = ice.poll_event()
            if k:
                self._on_ice(k)
                continue
            if dtls is not None:
                k = dtls.poll_event()
                if k:
                    self._on_dtls(k)
                    continue
            if chans is not None:
                n = chans.poll_transmit()
                if n:
                    if dtls.connected and not dtls.send(sctp.out_data, 0, n, self._now):
                        self.counters.dtls_full += 1  # SCTP retransmits it
                    continue
                k = chans.poll_event()
                if k:
                    if events.CHANNEL_OPEN <= k <= events.CHANNEL_ERROR:
                        self.out_channel = chans.ev_channel
                        if k == events.CHANNEL_MESSAGE:
                            self.out_data = chans.ev_data
                            self.out_binary = chans.ev_binary
                            if not sctp.ev_repeat:
                                self.counters.messages_received += 1
                        return k
                    self._on_sctp(k)
                    continue
            return events.NONE

    # ---- internals -------------------------------------------------------------------------

    def _poll_media(self):
        """The next media output: a protected RTP/RTCP TRANSMIT, KEYFRAME_REQUEST, RTP_PACKET."""
        for t in self.tracks:
            s = t.sender
            if s is not None:
                n = s.poll_transmit()
                if n:
                    return self._protect(s.out_data, n)
                if s.poll_event():
                    self.out_track = t
                    return events.KEYFRAME_REQUEST
            r = t.receiver
            if r is not None:
                n = r.poll_transmit()
                if n:
                    return self._protect(r.out_data, n)
                if r.poll_event():
                    self.out_track = t
                    self.out_data = r.ev_data[0:r.ev_len]
                    return events.RTP_PACKET
        return events.NONE

    def _protect(self, src, n):
        """Copy a plaintext RTP/RTCP packet to the SRTP buffer, protect it there, transmit."""
        addr = self.ice.selected_addr or self._dtls_addr
        if addr is None:
            self.counters.no_route += 1
            return events.NONE
        b = self._srtp_buf
        copy_into(b, 0, src, 0, n)
        if is_rtcp(b, n):
            n = self.srtp_tx.protect_rtcp(b, n)
        else:
            n = self.srtp_tx.protect_rtp(b, n)
        return self._transmit(self._media_view(n), n, addr)

    def _start_srtp(self):
        """DTLS-SRTP keys (RFC 5764 §4.2): the client's keys protect what the client sends."""
        if not any(t.sender is not None or t.receiver is not None for t in self.tracks):
            return
        d = self.dtls
        if not d.srtp_profile:
            self._fail("DTLS negotiated no SRTP profile (use_srtp, RFC 5764): media cannot flow")
            return
        from rtc_micro.srtp import SrtpSession, overhead

        ck, cs, sk, ss = d.srtp_keys()
        if self.role == "client":
            tx, rx = (ck, cs), (sk, ss)
        else:
            tx, rx = (sk, ss), (ck, cs)
        p = self.profile
        self.srtp_tx = SrtpSession(d.srtp_profile, tx[0], tx[1], p)
        self.srtp_rx = SrtpSession(d.srtp_profile, rx[0], rx[1], p)
        self._srtp_buf = bytearray(p.mtu + overhead(d.srtp_profile) + 4)  # + SRTCP index
        self._srtp_mv = memoryview(self._srtp_buf)
        self._views = {}
        for t in self.tracks:
            t.ready = t.sender is not None

    def _media_view(self, n):
        """A view of the SRTP buffer's first n bytes, kept per length: sendto needs the exact
        length, and an audio stream's packets all have one, so its steady state allocates
        nothing (other datagrams cost one small view each)."""
        v = self._views.get(n)
        if v is None:
            if len(self._views) >= _VIEWS:
                self._views.clear()
            v = self._srtp_mv[0:n]
            self._views[n] = v
        return v

    def _transmit(self, view, n, addr):
        self.out_data = view
        self.out_addr = addr
        self.counters.packets_sent += 1
        self.counters.bytes_sent += n
        return events.TRANSMIT

    def _on_ice(self, k):
        if k == events.ICE_CONNECTED:
            d = self.dtls
            if d is not None and self.role == "client" and not d.connected and \
                    self.state != DISCONNECTED and not self._dtls_started:
                self._dtls_started = True
                d.start(self._now)
            if self.state == DISCONNECTED:
                self._set_state(CONNECTED, self.ice.ev_reason)
        elif k == events.ICE_DISCONNECTED:
            if self.state == CONNECTED or self.state == CONNECTING:
                self._set_state(DISCONNECTED, self.ice.ev_reason)
        elif k == events.ICE_FAILED:
            self._fail(self.ice.ev_reason)

    def _on_dtls(self, k):
        if k == events.DTLS_CONNECTED:
            self._start_srtp()
            if self.sctp is not None:
                self.sctp.connect(self._now)
            self._set_state(CONNECTED, "DTLS connected (%s)" % self.role)
        elif k == events.DTLS_DATA:
            if self.sctp is not None:
                data = self.dtls.ev_data
                self.channels.handle_packet(data, len(data), self._now)
        elif k == events.DTLS_FAILED:
            self._fail("DTLS: " + self.dtls.ev_reason)
        elif k == events.DTLS_CLOSED:
            if self.state != CLOSED and self.state != FAILED:
                self.ice.close(self._now)
                self._set_state(CLOSED, "the peer closed DTLS (close_notify)")

    def _on_sctp(self, k):
        """SCTP_CONNECTED needs nothing (channels announce themselves); a lost association
        ends the session."""
        if k == events.SCTP_FAILED:
            self._fail("SCTP: " + self.channels.ev_reason)
        elif k == events.SCTP_CLOSED and self.state == CONNECTED:
            self._set_state(CLOSED, "SCTP: " + self.channels.ev_reason)

    def _fail(self, reason):
        for t in self.tracks:
            t.ready = False
        if self.state != FAILED and self.state != CLOSED:
            self._set_state(FAILED, reason)

    def _set_state(self, state, reason):
        if state == self.state:
            return
        self.state = state
        n = len(self._ev_state)
        if self._ev_n >= n:
            self.events_dropped += 1
            return
        j = self._ev_head + self._ev_n
        if j >= n:
            j -= n
        self._ev_state[j] = state
        self._ev_reason[j] = reason
        self._ev_n += 1

    def _pop_event(self):
        j = self._ev_head
        self.ev_state = self._ev_state[j]
        self.ev_reason = self._ev_reason[j]
        self._ev_head = 0 if j + 1 == len(self._ev_state) else j + 1
        self._ev_n -= 1
        return events.CONNECTION_STATE
