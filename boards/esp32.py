"""ESP32 (WROOM, no PSRAM): about 110 KB of MicroPython heap, xtensawin."""

from boards import Profile

PROFILE = Profile(
    "esp32",
    heap_bytes=110 * 1024,
    mpy_arch="xtensawin",
    transmit_slots=4,  # STUN answers; each driver drains after every datagram
    event_slots=8,
    ice_max_pairs=4,
    dtls_reassembly_bytes=2048,
    dtls_flight_bytes=2048,
    dtls_transcript_bytes=4096,  # Chrome's 1.4 KB ClientHello + two certificates fit
    dtls_transmit_slots=4,  # a 2 KB flight at mtu 1200 takes at most 3 datagrams
    dtls_connected_slots=2,  # the PeerConnection drains after each record
    # SCTP sized for messages up to 4 KiB, one in flight: an application that cannot send yet
    # defers the message it received (PeerConnection.defer_message) instead of copying it. A
    # session slot's buffers (11.4 KB) and its machines (DTLS, SCTP with their lists, ICE, the
    # PeerConnection) are made at boot and reused; fragmented messages are gathered in one 4 KB
    # buffer all slots share (docs/memory.md has the figures, measured on x64).
    sctp_rwnd=4 * 1024,
    sctp_send_buffer=4 * 1024,
    sctp_reassembly_bytes=4608,  # 3 receive slots: chunks above a gap (in-sequence: gathered)
    sctp_max_chunks_in_flight=8,  # a 4 KiB message is 4 chunks; up to 8 small ones in flight
    max_message_size=4 * 1024,
    max_channels=8,
    channel_low_water=2 * 1024,
    nack_history=32,
    jitter_slots=8,
    jitter_slot_bytes=320,
    video_frame_bytes=16 * 1024,
    ogg_page_bytes=2 * 1024,
    max_tracks=2,
    audio_history=4,
    audio_slot_bytes=320,  # RTP header + 20 ms of G.711 (or a 32 kbit/s Opus frame)
    video_tracks=0,  # no PSRAM: a video history + frame buffer (~55 KB) does not fit
    audio_tracks=0,  # audio (~20 KB: SRTP, sender, Ogg reader) next to a session does not fit yet
    http_max_request=8 * 1024,  # Chromium's offer with audio+video is ~7 KB (host_tests/fixtures)
    http_max_connections=2,
    max_sessions=1,  # --sessions 2 holds two at once on 110 KB (x64, docs/memory.md); one
    # leaves 26 KB more free at boot for the application
)
