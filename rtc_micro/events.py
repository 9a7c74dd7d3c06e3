"""Event kinds returned by every machine's `poll_event()` and by `PeerConnection.poll()`.

Details of an event sit in the machine's reused attributes (`reason`, `out_data`, ...), valid until
the next poll. Ranges: 1-9 generic, 10s ICE, 20s DTLS, 30s SCTP, 40s data channels, 50s media,
60s peer connection.
"""

from rtc_micro.compat import const

NONE = const(0)
TRANSMIT = const(1)

ICE_CONNECTED = const(10)
ICE_DISCONNECTED = const(11)
ICE_FAILED = const(12)
ICE_PAIR_CHANGED = const(13)
ICE_CLOSED = const(14)

DTLS_CONNECTED = const(20)
DTLS_DATA = const(21)
DTLS_FAILED = const(22)
DTLS_CLOSED = const(23)

SCTP_CONNECTED = const(30)
SCTP_DATA = const(31)
SCTP_CLOSED = const(32)
SCTP_FAILED = const(33)
SCTP_STREAM_RESET = const(34)
SCTP_BUFFERED_LOW = const(35)  # a stream's queued bytes fell to channel_low_water (sctp)

CHANNEL_OPEN = const(40)
CHANNEL_MESSAGE = const(41)
CHANNEL_CLOSED = const(42)
CHANNEL_BUFFERED_LOW = const(43)
CHANNEL_ERROR = const(44)

RTP_PACKET = const(50)
RTCP_PACKET = const(51)
KEYFRAME_REQUEST = const(52)
TRACK = const(53)

CONNECTION_STATE = const(60)
DATAGRAM = const(61)
