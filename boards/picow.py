"""Raspberry Pi Pico W (RP2040, 264 KB SRAM): about 160 KB of MicroPython heap, armv6m."""

from boards import Profile

PROFILE = Profile(
    "picow",
    heap_bytes=160 * 1024,
    mpy_arch="armv6m",
    transmit_slots=4,  # STUN answers; each driver drains after every datagram
    event_slots=8,
    ice_max_pairs=4,
    dtls_transmit_slots=5,  # the default 4 KB flight at mtu 1200 takes at most 5 datagrams
    dtls_connected_slots=2,  # the PeerConnection drains after each record
    sctp_rwnd=8 * 1024,
    sctp_send_buffer=8 * 1024,
    sctp_reassembly_bytes=8 * 1024,
    sctp_max_chunks_in_flight=16,
    max_message_size=8 * 1024,
    max_channels=8,
    channel_low_water=4 * 1024,
    nack_history=48,
    jitter_slots=8,
    jitter_slot_bytes=320,
    video_frame_bytes=16 * 1024,
    ogg_page_bytes=2 * 1024,
    max_tracks=2,
    audio_history=4,
    audio_slot_bytes=320,
    video_tracks=0,  # ~55 KB of video buffers next to a session does not fit 160 KB
    http_max_request=8 * 1024,  # Chromium's offer with audio+video is ~7 KB (host_tests/fixtures)
    http_max_connections=2,
    # Two data-channel sessions at once (`examples/device.py --sessions 2`) mostly fit 160 KB on
    # x64 but not reliably yet, and two with audio are not measured: one (docs/memory.md).
    max_sessions=1,
)
