"""WebRTC data channels (RFC 8831) and their open protocol DCEP (RFC 8832) over SCTP.

`DataChannels(association, dtls_client)` owns the channel table and speaks the machine contract
by delegating packets and timers to the association; its `poll_event()` turns association events
into CHANNEL_* events. See docs/sctp.md for the API.
"""

from rtc_micro import events
from rtc_micro.compat import const
from rtc_micro.errors import ConfigError, StateError

# Payload protocol identifiers (RFC 8831 §8, RFC 8832 §8.1).
PPID_DCEP = const(50)
PPID_STRING = const(51)
PPID_BINARY = const(53)
PPID_STRING_EMPTY = const(56)
PPID_BINARY_EMPTY = const(57)

# DCEP message and channel types (RFC 8832 §5).
_OPEN = const(0x03)
_ACK = const(0x02)
_TYPE_UNORDERED = const(0x80)
_TYPE_REXMIT = const(0x01)
_TYPE_TIMED = const(0x02)

# Channel states (RFC 8831 §6.1, the W3C readyState names).
CONNECTING = const(0)
OPEN = const(1)
CLOSING = const(2)
CLOSED = const(3)

_ACK_MSG = b"\x02"
_EMPTY = b"\x00"  # an empty message travels as one byte with an *_EMPTY PPID (RFC 8831 §6.6)


class Channel:
    """One data channel; read its attributes, act on it through `DataChannels`."""

    def __init__(self, owner, sid, label, protocol, ordered, max_retransmits,
                 max_packet_life_time, negotiated):
        self._owner = owner
        self.id = sid
        self.label = label
        self.protocol = protocol
        self.ordered = ordered
        self.max_retransmits = max_retransmits
        self.max_packet_life_time = max_packet_life_time
        self.negotiated = negotiated
        self.state = CONNECTING
        self._announce = False  # DCEP OPEN still to send (the association was not up)

    @property
    def buffered_amount(self):
        """Bytes queued on this channel and not yet acknowledged."""
        return self._owner.association.stream_buffered(self.id)


class Counters:
    def __init__(self):
        self.unknown_stream = 0  # messages on a stream with no channel
        self.dcep_malformed = 0
        self.refused = 0  # peer opened a channel past max_channels


class DataChannels:
    """The channels of one association; `dtls_client` picks even stream ids (RFC 8832 §6)."""

    def __init__(self, association, dtls_client):
        self.association = association
        self._life = association.life  # renewed for another session: these channels are done
        self.out_data = association.out_data
        self.max_channels = association.profile.max_channels
        self._parity = 0 if dtls_client else 1
        self._by_id = {}
        self.counters = Counters()
        self.ev_channel = None
        self.ev_binary = False
        self.ev_reason = ""
        self._pending = []  # channel events waiting for poll_event: (kind, channel)

    # ---------------------------------------------------------------- API

    def create_channel(self, label, ordered=True, max_retransmits=None,
                       max_packet_life_time=None, protocol="", negotiated=False, id=None,
                       now=None):
        """A new channel. Negotiated channels (both ends create them with the same `id`) open
        with the association; others send DATA_CHANNEL_OPEN and open on its ACK.
        """
        self._check_session()
        if max_retransmits is not None and max_packet_life_time is not None:
            raise ConfigError("give max_retransmits or max_packet_life_time, not both")
        if len(self._by_id) >= self.max_channels:
            raise StateError("max_channels (%d) channels open: close one or raise "
                             "profile.max_channels" % self.max_channels)
        n = self.association.n_streams
        if id is None:
            if negotiated:
                raise ConfigError("a negotiated channel needs an id")
            sid = self._parity
            while sid in self._by_id:
                sid += 2
        else:
            sid = id
            if sid in self._by_id:
                raise ConfigError("channel id %d is in use" % sid)
        if sid < 0 or sid >= n:
            raise ConfigError("channel id %d: must be below %d (2 * max_channels)" % (sid, n))
        ch = Channel(self, sid, label, protocol, ordered, max_retransmits, max_packet_life_time,
                     negotiated)
        self._by_id[sid] = ch
        if negotiated:
            if self.association.state >= 3:  # ESTABLISHED
                self._open(ch)
        else:
            ch._announce = True
            self._announce(ch, now)
        return ch

    def send(self, channel, data, off=0, n=None, binary=None, now=None):
        """Send `data` (str, or a buffer with off/n) as one message; False when the send buffer
        is full (pace with `channel.buffered_amount` and CHANNEL_BUFFERED_LOW).
        """
        if channel.state != OPEN and not (channel.state == CONNECTING and channel.ordered):
            raise StateError("channel %d is not open" % channel.id)
        self._check_session()
        if isinstance(data, str):
            data = data.encode()
            if binary is None:
                binary = False
        elif binary is None:
            binary = True
        if n is None:
            n = len(data) - off
        if n == 0:
            data = _EMPTY
            n = 1
            ppid = PPID_BINARY_EMPTY if binary else PPID_STRING_EMPTY
        else:
            ppid = PPID_BINARY if binary else PPID_STRING
        a = self.association
        return a.send(channel.id, ppid, data, off if ppid < PPID_STRING_EMPTY else 0, n,
                      not channel.ordered, channel.max_retransmits,
                      channel.max_packet_life_time, a._now if now is None else now)

    def close(self, channel, now=None):
        """Close by resetting the outgoing stream (RFC 8831 §6.7); CHANNEL_CLOSED follows when
        the peer resets its side.
        """
        if channel.state >= CLOSING:
            return
        self._check_session()
        channel.state = CLOSING
        a = self.association
        a.reset_stream(channel.id, a._now if now is None else now)

    def _check_session(self):
        if self.association.life is not self._life:
            raise StateError("these channels' session has ended: its association now serves "
                             "another one")

    def channel(self, sid):
        """The channel on stream `sid`, or None."""
        return self._by_id.get(sid)

    # ---------------------------------------------------------------- machine contract

    def handle_packet(self, buf, n, now):
        self.association.handle_packet(buf, n, now)

    def handle_timeout(self, now):
        self.association.handle_timeout(now)

    def poll_transmit(self):
        return self.association.poll_transmit()

    def poll_timeout(self):
        return self.association.poll_timeout()

    @property
    def ev_data(self):
        """The message of the last CHANNEL_MESSAGE (memoryview, valid until the next poll)."""
        a = self.association
        return memoryview(a.ev_buf)[a.ev_off : a.ev_off + self.ev_len]

    def poll_event(self):
        """CHANNEL_* events, plus SCTP_CONNECTED/SCTP_CLOSED/SCTP_FAILED passed through."""
        if self._pending:
            kind, ch = self._pending.pop(0)
            self.ev_channel = ch
            return kind
        a = self.association
        while True:
            kind = a.poll_event()
            if kind == events.NONE:
                return kind
            if kind == events.SCTP_DATA:
                got = self._on_message(a)
                if got:
                    return got
            elif kind == events.SCTP_STREAM_RESET:
                ch = self._by_id.get(a.ev_stream)
                if ch is not None:
                    if ch.state != CLOSING:
                        a.reset_stream(ch.id, a._now)  # the peer closed: reset our side too
                    self._closed(ch)
                    return events.CHANNEL_CLOSED
            elif kind == events.SCTP_BUFFERED_LOW:
                ch = self._by_id.get(a.ev_stream)
                if ch is not None and ch.state == OPEN:
                    self.ev_channel = ch
                    return events.CHANNEL_BUFFERED_LOW
            elif kind == events.SCTP_CONNECTED:
                for ch in list(self._by_id.values()):
                    if ch._announce:
                        self._announce(ch, a._now)
                    elif ch.negotiated and ch.state == CONNECTING:
                        self._open(ch)
                return kind
            else:  # SCTP_CLOSED, SCTP_FAILED: every channel goes with the association
                self.ev_reason = a.ev_reason
                for ch in list(self._by_id.values()):
                    self._closed(ch)
                    self._pending.append((events.CHANNEL_CLOSED, ch))
                self.ev_channel = None
                return kind

    # ---------------------------------------------------------------- internals

    def _announce(self, ch, now):
        """DATA_CHANNEL_OPEN (RFC 8832 §5.1), ordered and reliable, once the association is up."""
        a = self.association
        if a.state < 1:  # CLOSED: the answering side waits for SCTP_CONNECTED
            return
        label = ch.label.encode()
        proto = ch.protocol.encode()
        kind = 0 if ch.ordered else _TYPE_UNORDERED
        rel = 0
        if ch.max_retransmits is not None:
            kind |= _TYPE_REXMIT
            rel = ch.max_retransmits
        elif ch.max_packet_life_time is not None:
            kind |= _TYPE_TIMED
            rel = ch.max_packet_life_time
        msg = bytearray(12 + len(label) + len(proto))
        msg[0] = _OPEN
        msg[1] = kind
        msg[4] = (rel >> 24) & 0xFF
        msg[5] = (rel >> 16) & 0xFF
        msg[6] = (rel >> 8) & 0xFF
        msg[7] = rel & 0xFF
        msg[8] = len(label) >> 8
        msg[9] = len(label) & 0xFF
        msg[10] = len(proto) >> 8
        msg[11] = len(proto) & 0xFF
        msg[12 : 12 + len(label)] = label
        msg[12 + len(label) :] = proto
        if a.send(ch.id, PPID_DCEP, msg, 0, len(msg), False, None, None,
                  a._now if now is None else now):
            ch._announce = False

    def _open(self, ch):
        ch.state = OPEN
        self._pending.append((events.CHANNEL_OPEN, ch))

    def _closed(self, ch):
        ch.state = CLOSED
        self.ev_channel = ch
        self._by_id.pop(ch.id, None)

    def _on_message(self, a):
        """One SCTP message: DCEP or user data. Returns the event kind to report, or 0."""
        ppid = a.ev_ppid
        sid = a.ev_stream
        ch = self._by_id.get(sid)
        if ppid == PPID_DCEP:
            self._on_dcep(a, sid, ch)
            if self._pending:
                kind, ch = self._pending.pop(0)
                self.ev_channel = ch
                return kind
            return 0
        if ch is None or ch.state == CLOSED:
            self.counters.unknown_stream += 1
            return 0
        if ch.state == CONNECTING:
            self._open(ch)  # data implies the peer took our OPEN (its ACK was unordered?)
        self.ev_channel = ch
        if ppid == PPID_STRING_EMPTY or ppid == PPID_BINARY_EMPTY:
            self.ev_len = 0
            self.ev_binary = ppid == PPID_BINARY_EMPTY
        else:
            self.ev_len = a.ev_len
            self.ev_binary = ppid != PPID_STRING
        return events.CHANNEL_MESSAGE

    def _on_dcep(self, a, sid, ch):
        buf = a.ev_buf
        o = a.ev_off
        n = a.ev_len
        if n >= 1 and buf[o] == _ACK:
            if ch is not None and ch.state == CONNECTING:
                self._open(ch)
            return
        if n < 12 or buf[o] != _OPEN:
            self.counters.dcep_malformed += 1
            return
        ll = (buf[o + 8] << 8) | buf[o + 9]
        pl = (buf[o + 10] << 8) | buf[o + 11]
        if 12 + ll + pl > n:
            self.counters.dcep_malformed += 1
            return
        if ch is not None:
            return  # a repeated OPEN
        if len(self._by_id) >= self.max_channels or sid >= a.n_streams:
            self.counters.refused += 1
            a.reset_stream(sid, a._now)  # RFC 8832 §6: refuse by resetting the stream
            return
        kind = buf[o + 1]
        rel = (buf[o + 4] << 24) | (buf[o + 5] << 16) | (buf[o + 6] << 8) | buf[o + 7]
        label = bytes(buf[o + 12 : o + 12 + ll]).decode()
        proto = bytes(buf[o + 12 + ll : o + 12 + ll + pl]).decode()
        low = kind & 0x7F
        ch = Channel(self, sid, label, proto, not kind & _TYPE_UNORDERED,
                     rel if low == _TYPE_REXMIT else None, rel if low == _TYPE_TIMED else None,
                     False)
        self._by_id[sid] = ch
        a.send(sid, PPID_DCEP, _ACK_MSG, 0, 1, False, None, None, a._now)
        self._open(ch)
