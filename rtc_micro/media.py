"""RTP senders and receivers (RFC 3550): NACK history, SR/RR at §6.2 intervals, keyframe requests,
reception statistics (Appendix A.1, A.3, A.8) and a fixed-slot audio jitter buffer.

Both are sans-I/O machines: `handle_packet(buf, n, now)` (RTP or RTCP for them, after SRTP),
`handle_timeout(now)`, `poll_transmit()` -> n with the datagram in `out_data[0:n]` (plain RTP or
RTCP: the caller protects it with SRTP), `poll_timeout()`, `poll_event()`. SSRCs, timestamps and
NTP times live in 4-byte buffers so the packet path never makes a heap int on a board.
"""

from array import array

from rtc_micro import events, rtcp
from rtc_micro.codecs import copy_into
from rtc_micro.compat import const, ticks_add, ticks_diff, urandom
from rtc_micro.errors import ConfigError
from rtc_micro.rtp import (
    HEADER_SIZE, RtpHeader, begin_extensions, copy4, end_extensions, is_rtcp, pull_header,
    push_extension, push_header, same4, seq_add, seq_diff, ts_add_into, ts_diff_at,
)

_SRTP_TRAILER = const(16)  # room left in an MTU for the SRTP tag (GCM 16, HMAC-SHA1-80 10)
_RTCP_MIN_MS = const(5000)  # RFC 3550 §6.2 minimum interval (half of it before the first)
_RTCP_COMPENSATION = const(12183)  # e - 3/2 = 1.21828, in units of 1/10000 (§6.3.1)
_RTCP_SHARE_PCT = const(5)  # RTCP gets 5 % of the session bandwidth (§6.2)
_AVG_RTCP_BYTES = const(100)  # initial avg_rtcp_size estimate (SR + SDES, with IP/UDP)
_MAX_DROPOUT = const(3000)  # Appendix A.1
_MAX_MISORDER = const(100)
_NACK_MAX_GAP = const(17)  # one PID/BLP pair covers 17 packets
_RTCP_SLOT = const(-1)  # transmit ring entry meaning "the RTCP buffer"
FRAME_LOST = const(-1)  # JitterBuffer.read: that frame is missing (conceal it)
NOT_READY = const(-2)  # JitterBuffer.read: still buffering


def rtcp_interval_ms(members, senders, we_sent, session_bps, avg_rtcp_bytes, initial, rand16):
    """Randomized RTCP interval in ms (RFC 3550 §6.3.1 and Appendix A.7).

    `rand16` is a random 0..65535 (factor 0.5-1.5). Small ints only.
    """
    rtcp_bytes_s = session_bps * _RTCP_SHARE_PCT // 800 or 1
    n = members
    if senders * 4 <= members:
        if we_sent:
            rtcp_bytes_s = rtcp_bytes_s // 4 or 1
            n = senders
        else:
            rtcp_bytes_s = rtcp_bytes_s * 3 // 4 or 1
            n = members - senders
    t = avg_rtcp_bytes * n * 1000 // rtcp_bytes_s
    t_min = _RTCP_MIN_MS // 2 if initial else _RTCP_MIN_MS
    if t < t_min:
        t = t_min
    t = t * (32768 + rand16) >> 16
    return t * 10000 // _RTCP_COMPENSATION


def _rand16():
    r = urandom(2)
    return (r[0] << 8) | r[1]


class MediaCounters:
    """Drops and peer misbehaviour, counted (never raised)."""

    def __init__(self):
        self.malformed = 0  # RTP/RTCP that does not parse
        self.foreign_ssrc = 0  # packets for or from an SSRC that is not ours
        self.queue_full = 0  # transmits dropped because the ring was full
        self.nack_requests = 0  # sequence numbers asked for
        self.nack_resent = 0  # ... and found in the history
        self.nack_missed = 0  # ... and already gone
        self.late = 0  # jitter buffer: arrived after its playout
        self.overrun = 0  # jitter buffer: too far ahead, playout skipped forward
        self.oversize = 0  # payload larger than a slot
        self.duplicates = 0
        self.bad_seq = 0  # large sequence jumps dropped (Appendix A.1)


class _Transmits:
    """Transmit ring of slot indices (`_RTCP_SLOT` for the RTCP buffer), bounded by the profile."""

    def __init__(self, slots):
        self.ring = array("h", [0] * slots)
        self.head = 0
        self.count = 0

    def push(self, slot):
        n = len(self.ring)
        if self.count >= n:
            return False
        self.ring[(self.head + self.count) % n] = slot
        self.count += 1
        return True

    def pop(self):
        slot = self.ring[self.head]
        self.head = (self.head + 1) % len(self.ring)
        self.count -= 1
        return slot


class TransportSequence:
    """The transport-wide sequence number all senders of one transport share (transport-cc)."""

    def __init__(self):
        self.seq = 0

    def take(self):
        s = self.seq
        self.seq = (s + 1) & 0xFFFF
        return s


class RtpSender:
    """One outgoing RTP stream: packetization slots that double as the NACK history, SR + SDES.

    Fast path: `off = sender.reserve()`; write the payload into `sender.slab[off:]` (at most
    `max_payload` bytes); `sender.commit(n, marker, now)`; `sender.advance(ts_delta)` per frame.
    Header extensions (RFC 8285 one-byte form) with the ids from the SDP: `mid`/`mid_id`,
    `abs_send_time_id`, `twcc_id` (sequence from `twcc`, a TransportSequence shared per transport).
    """

    def __init__(self, profile, pt, clock_rate, ssrc=None, cname=b"rtc_micro", receiver=None,
                 session_bps=64000, mid=None, mid_id=0, abs_send_time_id=0, twcc_id=0,
                 twcc=None, now=0, history=0, slot_bytes=0, tx_slots=0):
        if len(cname) > 255:
            raise ConfigError("cname must be at most 255 bytes")
        self.pt = pt
        self.clock_rate = clock_rate
        self.cname = cname
        self.receiver = receiver  # an RtpReceiver whose report block rides in our SR
        self.session_bps = session_bps
        self.ssrc = bytearray(urandom(4) if ssrc is None else ssrc)
        # Header template (RFC 3550 §5.1 + RFC 8285 one-byte extensions with the ids the SDP
        # negotiated), written into every slot once; per packet only the varying fields change.
        # Room: fixed header, extension header, mid (<= 16), abs-send-time, transport-cc, pad.
        tmpl = bytearray(HEADER_SIZE + 4 + 17 + 4 + 3 + 3)
        hl = push_header(tmpl, 0, pt, 0, 0, 0)
        copy4(tmpl, 8, self.ssrc, 0)
        self._abs_off = self._twcc_off = 0
        self.twcc = twcc if twcc is not None else TransportSequence() if twcc_id else None
        if mid_id or abs_send_time_id or twcc_id:
            e = begin_extensions(tmpl, 0, hl)
            if mid_id:
                e = push_extension(tmpl, e, mid_id, mid, 0, len(mid))
            if abs_send_time_id:
                self._abs_off = e + 1
                e = push_extension(tmpl, e, abs_send_time_id, bytes(3), 0, 3)
            if twcc_id:
                self._twcc_off = e + 1
                e = push_extension(tmpl, e, twcc_id, bytes(2), 0, 2)
            hl = end_extensions(tmpl, hl, e)
        self.header_len = hl
        # Slots: `history` x `slot_bytes` (default: the profile's NACK history, sized for video;
        # an audio track passes its own, smaller sizes).
        size = slot_bytes or profile.nack_slot_bytes
        hist = history or profile.nack_history
        self._slot_bytes = size
        self.max_payload = min(size, profile.mtu - _SRTP_TRAILER) - hl
        if hist < 1 or self.max_payload < 1:
            raise ConfigError("the RTP history needs >= 1 slot of more than the %d-byte RTP "
                              "header (profile nack_history/nack_slot_bytes, audio_history/"
                              "audio_slot_bytes)" % hl)
        self.slab = bytearray(size * hist)
        mv = memoryview(self.slab)
        self._views = [mv[i * size:(i + 1) * size] for i in range(hist)]
        for i in range(hist):
            self.slab[i * size:i * size + hl] = tmpl[0:hl]
        self._slot_seq = array("H", [0] * hist)
        self._slot_len = array("H", [0] * hist)
        self._rtcp = bytearray(profile.mtu)
        self._rtcp_view = memoryview(self._rtcp)
        self._rtcp_len = 0
        self._tx = _Transmits(tx_slots or profile.transmit_slots)
        self.out_data = self._rtcp_view
        self.seq = _rand16()  # next sequence number (RFC 3550 §5.1: random start)
        self._ts = bytearray(urandom(4))  # timestamp of the next frame
        self._last_ts = bytearray(4)  # timestamp of the last packet sent
        self._sr_ts = bytearray(4)  # RTP timestamp matching the SR's NTP time
        self._last_sent_at = now
        self._ntp = bytearray(8)  # NTP time of the last SR (elapsed time since start, §6.4.1)
        self._ntp_base_at = now
        self._lsr = bytearray(4)  # middle 32 bits of our last SR's NTP time
        self._sr_sent_at = None
        self.packets = 0
        self.octets = 0
        self._sent_any = False
        self.counters = MediaCounters()
        # Statistics from the peer's reports on this stream.
        self.fraction_lost = 0
        self.cumulative_lost = 0
        self.jitter = 0
        self.rtt_ms = -1
        self.remb_bps = -1
        self.pli_count = 0  # PLIs and FIRs received for this stream (W3C pliCount, firCount)
        self.fir_count = 0
        self._keyframe_requests = 0
        self._cur = rtcp.RtcpCursor()
        self._report_at = ticks_add(now, rtcp_interval_ms(2, 1, False, session_bps,
                                                           _AVG_RTCP_BYTES, True, _rand16()))

    # ---- sending ----

    def reserve(self):
        """Offset in `self.slab` where the next packet's payload goes."""
        return (self.seq % len(self._views)) * self._slot_bytes + self.header_len

    def commit(self, n, marker, now):
        """Finish the packet whose payload was written at `reserve()` and queue it."""
        i = self.seq % len(self._views)
        base = i * self._slot_bytes
        b = self.slab
        b[base + 1] = (marker << 7) | self.pt
        b[base + 2] = self.seq >> 8
        b[base + 3] = self.seq & 255
        copy4(b, base + 4, self._ts, 0)
        if self._abs_off:
            # abs-send-time: 6.18 fixed-point seconds, modulo 64 s; kept below 2**30 throughout.
            ms = now % 64000
            v = ((ms // 1000) << 18) | ((ms % 1000) * 262144 // 1000)
            o = base + self._abs_off
            b[o] = v >> 16
            b[o + 1] = (v >> 8) & 255
            b[o + 2] = v & 255
        if self._twcc_off:
            t = self.twcc.take()
            b[base + self._twcc_off] = t >> 8
            b[base + self._twcc_off + 1] = t & 255
        copy4(self._last_ts, 0, self._ts, 0)
        self._slot_seq[i] = self.seq
        self._slot_len[i] = self.header_len + n
        self.seq = (self.seq + 1) & 0xFFFF
        self._last_sent_at = now
        # Counts wrap at 2**30 (the SR fields wrap at 2**32) so they stay small ints on a board.
        self._sent_any = True
        self.packets = (self.packets + 1) & 0x3FFFFFFF
        self.octets = (self.octets + n) & 0x3FFFFFFF
        if not self._tx.push(i):
            self.counters.queue_full += 1

    def send(self, payload, off, n, marker, now):
        """Copy `payload[off:off+n]` into the next slot and queue it (one copy)."""
        if n > self.max_payload:
            raise ConfigError("RTP payload of %d bytes exceeds max_payload %d: packetize it"
                                % (n, self.max_payload))
        copy_into(self.slab, self.reserve(), payload, off, n)
        self.commit(n, marker, now)

    def advance(self, ts_delta):
        """Move the timestamp on by one frame's duration in clock units."""
        ts_add_into(self._ts, 0, ts_delta)

    def lookup(self, seq):
        """Slot index of sent packet `seq` still in the history, or -1."""
        i = seq % len(self._views)
        if self._slot_len[i] and self._slot_seq[i] == seq:
            return i
        return -1

    # ---- machine verbs ----

    def poll_transmit(self):
        if not self._tx.count:
            return 0
        slot = self._tx.pop()
        if slot == _RTCP_SLOT:
            self.out_data = self._rtcp_view
            return self._rtcp_len
        self.out_data = self._views[slot]
        return self._slot_len[slot]

    def poll_timeout(self):
        return self._report_at

    def poll_event(self):
        if self._keyframe_requests:
            self._keyframe_requests = 0
            return events.KEYFRAME_REQUEST
        return events.NONE

    def handle_timeout(self, now):
        if self._report_at is None or ticks_diff(now, self._report_at) < 0:
            return
        self._report_at = ticks_add(now, rtcp_interval_ms(
            2, 1, self._sent_any, self.session_bps, _AVG_RTCP_BYTES, False, _rand16()))
        self._queue_report(now)

    def close(self, now):
        """Queue a BYE (RFC 3550 §6.6) after a last report; stop reporting."""
        o = self._report(now)
        self._rtcp_len = rtcp.push_bye(self._rtcp, o, self.ssrc, 0)
        self._report_at = None
        if not self._tx.push(_RTCP_SLOT):
            self.counters.queue_full += 1

    def _queue_report(self, now):
        self._rtcp_len = self._report(now)
        if not self._tx.push(_RTCP_SLOT):
            self.counters.queue_full += 1

    def _report(self, now):
        """SR (or RR before we sent anything) + SDES CNAME, as RFC 3550 §6.1 requires."""
        b = self._rtcp
        rx = self.receiver
        blocks = 1 if rx is not None and rx.has_source else 0
        if self._sent_any:
            self._stamp_ntp(now)
            ts = self._sr_ts
            copy4(ts, 0, self._last_ts, 0)
            ts_add_into(ts, 0, ticks_diff(now, self._last_sent_at) * self.clock_rate // 1000)
            o = rtcp.push_sr(b, 0, self.ssrc, 0, self._ntp, 0, ts, 0, self.packets,
                             self.octets, blocks)
            copy4(self._lsr, 0, self._ntp, 2)
            self._sr_sent_at = now
        else:
            o = rtcp.push_rr(b, 0, self.ssrc, 0, blocks)
        if blocks:
            o = rx.push_report_block(b, o, now)
        return rtcp.push_sdes_cname(b, o, self.ssrc, 0, self.cname)

    def _stamp_ntp(self, now):
        # Wallclock-free NTP time: elapsed time since this sender started (RFC 3550 §6.4.1
        # allows it). Whole seconds are folded into the 4-byte seconds field so ms stay small.
        ms = ticks_diff(now, self._ntp_base_at)
        if ms >= 1000:
            ts_add_into(self._ntp, 0, ms // 1000)
            self._ntp_base_at = ticks_add(self._ntp_base_at, ms // 1000 * 1000)
            ms = ms % 1000
        if ms < 0:
            ms = 0
        frac_hi = (ms << 16) // 1000
        frac_lo = ((((ms << 16) % 1000) << 16) // 1000) & 0xFFFF
        b = self._ntp
        b[4] = frac_hi >> 8
        b[5] = frac_hi & 255
        b[6] = frac_lo >> 8
        b[7] = frac_lo & 255

    def handle_packet(self, buf, n, now):
        """RTCP for this stream: RR/SR report blocks, NACK, PLI, FIR, REMB (RFC 4585, 5104)."""
        if not is_rtcp(buf, n):
            self.counters.malformed += 1
            return
        cur = self._cur
        cur.reset(buf, 0, n)
        while True:
            pt = cur.next()
            if pt == 0:
                return
            if pt < 0:
                self.counters.malformed += 1
                return
            if pt == rtcp.RR or pt == rtcp.SR:
                self._handle_reports(cur, buf, now)
            elif pt == rtcp.RTPFB and cur.count == rtcp.FMT_NACK:
                if same4(buf, rtcp.media_ssrc_off(cur), self.ssrc, 0):
                    self._handle_nack(cur, buf)
                else:
                    self.counters.foreign_ssrc += 1
            elif pt == rtcp.PSFB:
                self._handle_psfb(cur, buf)

    def _handle_reports(self, cur, buf, now):
        if not rtcp.report_blocks_valid(cur):
            self.counters.malformed += 1
            return
        o = rtcp.report_blocks_off(cur)
        for _ in range(cur.count):
            if same4(buf, o, self.ssrc, 0):
                self.fraction_lost = buf[o + rtcp.RB_FRACTION]
                self.cumulative_lost = rtcp.rb_lost(buf, o)
                self.jitter = rtcp.rb_jitter(buf, o)
                if self._sr_sent_at is not None and same4(buf, o + rtcp.RB_LSR, self._lsr, 0):
                    rtt = ticks_diff(now, self._sr_sent_at) - rtcp.rb_dlsr_ms(buf, o)
                    self.rtt_ms = rtt if rtt > 0 else 0
            o += rtcp.REPORT_BLOCK_SIZE

    def _handle_nack(self, cur, buf):
        o = cur.off + 12
        for _ in range(rtcp.nack_items(cur)):
            pid = (buf[o] << 8) | buf[o + 1]
            blp = (buf[o + 2] << 8) | buf[o + 3]
            self._resend(pid)
            for k in range(16):
                if blp & (1 << k):
                    self._resend((pid + k + 1) & 0xFFFF)
            o += 4

    def _resend(self, seq):
        self.counters.nack_requests += 1
        i = self.lookup(seq)
        if i < 0:
            self.counters.nack_missed += 1
        elif self._tx.push(i):
            self.counters.nack_resent += 1
        else:
            self.counters.queue_full += 1

    def _handle_psfb(self, cur, buf):
        fmt = cur.count
        if fmt == rtcp.FMT_PLI:
            if same4(buf, rtcp.media_ssrc_off(cur), self.ssrc, 0):
                self.pli_count += 1
                self._keyframe_requests += 1
        elif fmt == rtcp.FMT_FIR:
            o = cur.off + 12
            for _ in range(rtcp.fir_items(cur)):
                if same4(buf, o, self.ssrc, 0):
                    self.fir_count += 1
                    self._keyframe_requests += 1
                o += 8
        elif fmt == rtcp.FMT_AFB:
            bps = rtcp.remb_bitrate(cur)
            if bps >= 0:
                self.remb_bps = bps


class JitterBuffer:
    """Fixed slots (profile.jitter_slots x jitter_slot_bytes) ordering received audio frames.

    `put(seq, buf, off, n)` stores a payload; `read(out, off)` returns the next frame's length
    (copied to `out[off:]`), FRAME_LOST for a gap to conceal, or NOT_READY while (re)buffering
    until `depth` frames are held.
    """

    def __init__(self, profile, depth=0):
        slots = profile.jitter_slots
        self.slot_bytes = profile.jitter_slot_bytes
        self.depth = depth if depth > 0 else (slots + 1) // 2
        if self.depth > slots:
            raise ConfigError("jitter depth %d exceeds profile.jitter_slots %d"
                              % (self.depth, slots))
        self._data = bytearray(slots * self.slot_bytes)
        self._seq = array("H", [0] * slots)
        self._len = array("h", [-1] * slots)  # -1: empty
        self.count = 0
        self.playing = False
        self.next_seq = 0
        self.counters = MediaCounters()

    def put(self, seq, buf, off, n):
        slots = len(self._len)
        if n > self.slot_bytes:
            self.counters.oversize += 1
            return
        if self.playing:
            d = seq_diff(seq, self.next_seq)
            if d < 0:
                self.counters.late += 1
                return
            if d >= slots:  # far ahead: drop what would be skipped, play from the new window
                self.counters.overrun += 1
                self._skip_to(seq_add(seq, 1 - slots))
        elif self.count == 0 or seq_diff(seq, self.next_seq) < 0:
            self.next_seq = seq  # the earliest frame seen while buffering starts playout
        elif seq_diff(seq, self.next_seq) >= slots:  # buffering, and the stream jumped: restart
            self.counters.overrun += 1
            self._skip_to(seq)
        i = seq % slots
        if self._len[i] >= 0:
            if self._seq[i] == seq:
                self.counters.duplicates += 1
                return
            self.count -= 1  # an old frame in the slot is superseded
        self._seq[i] = seq
        self._len[i] = n
        copy_into(self._data, i * self.slot_bytes, buf, off, n)
        self.count += 1

    def _skip_to(self, seq):
        slots = len(self._len)
        if seq_diff(seq, self.next_seq) >= slots:  # nothing buffered survives the jump
            for i in range(slots):
                self._len[i] = -1
            self.count = 0
            self.next_seq = seq
            return
        while seq_diff(seq, self.next_seq) > 0:
            i = self.next_seq % slots
            if self._len[i] >= 0 and self._seq[i] == self.next_seq:
                self._len[i] = -1
                self.count -= 1
            self.next_seq = seq_add(self.next_seq, 1)

    def read(self, out, off):
        if not self.playing:
            if self.count < self.depth:
                return NOT_READY
            self.playing = True
        if self.count == 0:  # underrun: buffer up again
            self.playing = False
            return NOT_READY
        slots = len(self._len)
        seq = self.next_seq
        self.next_seq = seq_add(seq, 1)
        i = seq % slots
        n = self._len[i]
        if n < 0 or self._seq[i] != seq:
            return FRAME_LOST
        copy_into(out, off, self._data, i * self.slot_bytes, n)
        self._len[i] = -1
        self.count -= 1
        return n


class RtpReceiver:
    """One incoming RTP stream: reception statistics, RR/SDES, PLI/FIR/NACK requests.

    With `jitter=True` (audio) payloads go to `self.jitter` (a JitterBuffer) and the application
    calls `self.jitter.read`; otherwise each packet is an RTP_PACKET event with the payload in
    `ev_data[0:ev_len]` and `ev_seq`, `ev_marker`, `ev_pt`, `ev_ts` (4 bytes).
    """

    def __init__(self, profile, clock_rate, ssrc=None, cname=b"rtc_micro", jitter=False,
                 jitter_depth=0, nack=False, send_reports=True, session_bps=64000, now=0):
        self.clock_rate = clock_rate
        self.cname = cname
        self.nack = nack
        self.session_bps = session_bps
        self.ssrc = bytearray(urandom(4) if ssrc is None else ssrc)  # ours, for reports
        self.remote_ssrc = bytearray(4)
        self.has_source = False
        self.header = RtpHeader()
        self.jitter = JitterBuffer(profile, jitter_depth) if jitter else None
        self._pkt = bytearray(profile.rx_buffer)
        self.ev_data = memoryview(self._pkt)
        self.ev_len = 0
        self.ev_seq = 0
        self.ev_marker = 0
        self.ev_pt = 0
        self.ev_ts = bytearray(4)
        self._rtp_pending = False
        self._rtcp = bytearray(profile.mtu)
        self.out_data = memoryview(self._rtcp)
        self._rtcp_len = 0
        self._rtcp_pending = False
        self._pli_pending = False
        self._fir_seq = 0
        self.counters = MediaCounters()
        self._cur = rtcp.RtcpCursor()
        # Appendix A.1 source state.
        self.max_seq = 0
        self.cycles = 0  # count of sequence wraps (not shifted: stays a small int)
        self.base_seq = 0
        self.bad_seq = -1
        self.received = 0
        self.octets = 0  # payload bytes accepted (W3C bytesReceived; wraps at 2**30)
        self.nack_count = 0  # NACK / PLI / FIR packets we sent (W3C nackCount, ...)
        self.pli_count = 0
        self.fir_count = 0
        self._expected_prior = 0
        self._received_prior = 0
        # Appendix A.8 jitter, scaled by 16.
        self._jitter_q4 = 0
        self._last_ts = bytearray(4)
        self._last_arrival = now
        # Last SR from the source (for LSR/DLSR).
        self._lsr = bytearray(4)
        self._sr_at = None
        self.send_reports = send_reports
        self._report_at = ticks_add(now, rtcp_interval_ms(2, 1, False, session_bps,
                                                           _AVG_RTCP_BYTES, True, _rand16()))

    # ---- input ----

    def handle_packet(self, buf, n, now):
        if is_rtcp(buf, n):
            self._handle_rtcp(buf, n, now)
            return
        h = self.header
        if not pull_header(buf, 0, n, h):
            self.counters.malformed += 1
            return
        if not self.has_source:
            copy4(self.remote_ssrc, 0, buf, 8)
            self.has_source = True
            self._init_seq(h.seq)
            self.received = 0
        elif not same4(buf, 8, self.remote_ssrc, 0):
            self.counters.foreign_ssrc += 1
            return
        elif not self._update_seq(h.seq, now):
            return
        self.received += 1
        self.octets = (self.octets + h.payload_len) & 0x3FFFFFFF
        # Interarrival jitter (A.8): D = (arrival difference) - (timestamp difference).
        if self.received > 1:
            arrival = ticks_diff(now, self._last_arrival) * self.clock_rate // 1000
            d = arrival - ts_diff_at(buf, 4, self._last_ts, 0)
            if d < 0:
                d = -d
            self._jitter_q4 += d - ((self._jitter_q4 + 8) >> 4)
        copy4(self._last_ts, 0, buf, 4)
        self._last_arrival = now
        if self.jitter is not None:
            self.jitter.put(h.seq, buf, h.payload_off, h.payload_len)
            return
        if h.payload_len > len(self._pkt):
            self.counters.oversize += 1
            return
        copy_into(self._pkt, 0, buf, h.payload_off, h.payload_len)
        self.ev_len = h.payload_len
        self.ev_seq = h.seq
        self.ev_marker = h.marker
        self.ev_pt = h.pt
        copy4(self.ev_ts, 0, buf, 4)
        self._rtp_pending = True

    def _init_seq(self, seq):
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = -1
        self.cycles = 0
        self.received = 0
        self._expected_prior = 0
        self._received_prior = 0

    def _update_seq(self, seq, now):
        udelta = (seq - self.max_seq) & 0xFFFF
        if udelta == 0:
            self.counters.duplicates += 1
            return False
        if udelta < _MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += 1
            if self.nack and 1 < udelta <= _NACK_MAX_GAP:
                self._queue_nack(seq_add(self.max_seq, 1), udelta - 1, now)
            self.max_seq = seq
        elif udelta <= 0x10000 - _MAX_MISORDER:
            if seq == self.bad_seq:  # two in a row: the source restarted (A.1)
                self._init_seq(seq)
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                self.counters.bad_seq += 1
                return False
        return True

    def _handle_rtcp(self, buf, n, now):
        cur = self._cur
        cur.reset(buf, 0, n)
        while True:
            pt = cur.next()
            if pt == 0:
                return
            if pt < 0:
                self.counters.malformed += 1
                return
            if pt == rtcp.SR and self.has_source and same4(buf, cur.ssrc_off, self.remote_ssrc, 0):
                copy4(self._lsr, 0, buf, cur.off + 10)  # middle 32 bits of the NTP time
                self._sr_at = now

    # ---- requests ----

    def request_keyframe(self, now, fir=False):
        """Queue a PLI (or FIR, RFC 5104 §4.3.1) for the source, with our RR + SDES."""
        if not self.has_source:
            return
        o = self._report(now)
        if fir:
            self.fir_count += 1
            self._fir_seq = (self._fir_seq + 1) & 255
            o = rtcp.push_fir(self._rtcp, o, self.ssrc, 0, self.remote_ssrc, 0, self._fir_seq)
        else:
            self.pli_count += 1
            o = rtcp.push_pli(self._rtcp, o, self.ssrc, 0, self.remote_ssrc, 0)
        self._rtcp_len = o
        self._rtcp_pending = True

    def _queue_nack(self, first, count, now):
        self.nack_count += 1
        blp = 0
        for k in range(count - 1):
            blp |= 1 << k
        o = self._report(now)
        self._rtcp_len = rtcp.push_nack(self._rtcp, o, self.ssrc, 0, self.remote_ssrc, 0,
                                        first, blp)
        self._rtcp_pending = True

    # ---- reports ----

    def push_report_block(self, buf, off, now):
        """Our report block about the source (RFC 3550 §6.4.1, Appendix A.3)."""
        ext_max = self.cycles * 0x10000 + self.max_seq
        expected = ext_max - self.base_seq + 1
        lost = expected - self.received
        if lost > 0x7FFFFF:
            lost = 0x7FFFFF
        elif lost < -0x800000:
            lost = -0x800000
        exp_int = expected - self._expected_prior
        rec_int = self.received - self._received_prior
        self._expected_prior = expected
        self._received_prior = self.received
        lost_int = exp_int - rec_int
        fraction = 0 if exp_int == 0 or lost_int <= 0 else (lost_int << 8) // exp_int
        dlsr_hi = dlsr_lo = 0
        if self._sr_at is not None:
            ms = ticks_diff(now, self._sr_at)
            if ms > 0xFFFFFF:
                ms = 0xFFFFFF
            dlsr_hi = (ms << 16) // 1000 >> 16
            dlsr_lo = ((ms << 16) // 1000) & 0xFFFF
        return rtcp.push_report_block(buf, off, self.remote_ssrc, 0, fraction, lost,
                                      self.cycles & 0xFFFF, self.max_seq, self._jitter_q4 >> 4,
                                      self._lsr, 0, dlsr_hi, dlsr_lo)

    def interarrival_jitter(self):
        """Current jitter estimate in timestamp units (Appendix A.8)."""
        return self._jitter_q4 >> 4

    def _report(self, now):
        b = self._rtcp
        blocks = 1 if self.has_source else 0
        o = rtcp.push_rr(b, 0, self.ssrc, 0, blocks)
        if blocks:
            o = self.push_report_block(b, o, now)
        return rtcp.push_sdes_cname(b, o, self.ssrc, 0, self.cname)

    # ---- machine verbs ----

    def handle_timeout(self, now):
        if self._report_at is None or ticks_diff(now, self._report_at) < 0:
            return
        self._report_at = ticks_add(now, rtcp_interval_ms(
            2, 1, False, self.session_bps, _AVG_RTCP_BYTES, False, _rand16()))
        if self.send_reports:
            self._rtcp_len = self._report(now)
            self._rtcp_pending = True

    def poll_transmit(self):
        if not self._rtcp_pending:
            return 0
        self._rtcp_pending = False
        return self._rtcp_len

    def poll_timeout(self):
        return self._report_at if self.send_reports else None

    def poll_event(self):
        if self._rtp_pending:
            self._rtp_pending = False
            return events.RTP_PACKET
        return events.NONE

