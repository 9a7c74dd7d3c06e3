"""Board profiles: every size rtc_micro allocates comes from one of these.

`load(name)` returns the profile of `boards/<name>.py`; `Profile.derive(**sizes)` makes a variant
(tests use it for tiny windows). Values below are the defaults a board file overrides. Each
subsystem keeps its fields in its own block; add a field here with a comment saying what it bounds.
"""


class Profile:
    """The sizes of one board. Attributes are plain ints (bytes, counts or milliseconds)."""

    def __init__(self, name, **sizes):
        self.name = name
        # Runtime budget.
        self.heap_bytes = 2 * 1024 * 1024  # MicroPython heap (`-X heapsize=`)
        self.mpy_arch = "x64"  # mpy-cross -march for this board
        # Network.
        self.mtu = 1200  # largest UDP payload we send (WebRTC convention, RFC 8831 §5)
        self.rx_buffer = 1500  # largest datagram we accept
        self.transmit_slots = 16  # transmit ring: datagrams waiting for the driver
        self.event_slots = 16  # pending events per machine
        # ICE / STUN.
        self.ice_max_pairs = 8  # candidate pairs (remote addresses) remembered
        self.ice_consent_timeout_ms = 30000  # RFC 7675 §5.1
        self.ice_failed_timeout_ms = 60000  # after disconnected, give up
        # DTLS.
        self.dtls_reassembly_bytes = 4096  # one handshake message being reassembled
        self.dtls_flight_bytes = 4096  # our last flight kept for retransmission
        self.dtls_max_retransmits = 6  # RFC 6347 §4.2.4, 1 s doubling
        self.dtls_initial_timeout_ms = 1000
        self.dtls_handshake_timeout_ms = 30000
        self.dtls_transcript_bytes = 8192  # handshake messages hashed for Finished (DTLS issue)
        # DTLS transmit ring: holds our largest flight (4 KB at mtu 500 takes 11 datagrams).
        self.dtls_transmit_slots = 16
        # Of those, kept once connected (the rest freed): 2 suffice for a caller that drains after
        # each send() (one record, plus an alert or our resent final flight).
        self.dtls_connected_slots = 16
        # SCTP / data channels.
        self.sctp_rwnd = 128 * 1024  # receive window we advertise
        self.sctp_send_buffer = 128 * 1024  # bytes queued or in flight
        self.sctp_reassembly_bytes = 256 * 1024  # partially received messages
        self.sctp_max_chunks_in_flight = 256
        self.max_message_size = 256 * 1024  # advertised a=max-message-size
        self.max_channels = 64
        self.channel_low_water = 16 * 1024  # CHANNEL_BUFFERED_LOW threshold
        # Media.
        self.nack_history = 256  # sent RTP packets kept for retransmission
        self.nack_slot_bytes = 1200
        # An audio track's sent packets: browsers do not NACK audio, so a few small slots (RTP
        # header + one 20-60 ms Opus or 20 ms G.711 frame) instead of the video history.
        self.audio_history = 8
        self.audio_slot_bytes = 640
        self.jitter_slots = 16
        self.jitter_slot_bytes = 640  # largest audio payload a jitter slot holds (Opus 20 ms)
        self.video_frame_bytes = 64 * 1024  # H.264/VP8 depacketizer: one access unit
        self.ogg_page_bytes = 8 * 1024  # Ogg reader: largest page (and packet) held
        self.max_tracks = 4
        # Video tracks a session may send: each keeps `nack_history` x `nack_slot_bytes` of sent
        # packets, and a file source one `video_frame_bytes` frame (0: audio only).
        self.video_tracks = 1
        self.audio_tracks = 2  # audio tracks a session may have (0: data channels only)
        self.srtp_max_ssrcs = 8  # SSRCs one SRTP session tracks (ROC, replay windows), 50 B each
        # Signaling.
        self.http_max_request = 16 * 1024
        self.http_max_connections = 4
        self.max_sessions = 4
        for key in sizes:
            if not hasattr(self, key):
                raise ValueError("unknown board size %r: see boards/__init__.py" % key)
            setattr(self, key, sizes[key])

    def derive(self, **sizes):
        """A copy of this profile with some sizes changed."""
        p = Profile(self.name)
        for key in self.__dict__:
            setattr(p, key, getattr(self, key))
        for key in sizes:
            if not hasattr(p, key):
                raise ValueError("unknown board size %r: see boards/__init__.py" % key)
            setattr(p, key, sizes[key])
        return p


NAMES = ("esp32", "esp32s3", "picow", "unix")


def load(name):
    """The profile of board `name` (one of NAMES)."""
    if name not in NAMES:
        raise ValueError("unknown board %r: choose one of %s" % (name, ", ".join(NAMES)))
    mod = __import__("boards." + name, None, None, ("PROFILE",))
    return mod.PROFILE
