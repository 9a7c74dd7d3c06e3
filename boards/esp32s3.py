"""ESP32-S3 with 8 MB PSRAM: a roomy heap (2 MB given to MicroPython), xtensawin."""

from boards import Profile

PROFILE = Profile(
    "esp32s3",
    heap_bytes=2 * 1024 * 1024,
    mpy_arch="xtensawin",
    sctp_rwnd=64 * 1024,
    sctp_send_buffer=64 * 1024,
    sctp_reassembly_bytes=128 * 1024,
    max_message_size=64 * 1024,
    max_channels=16,
    nack_history=128,
    max_sessions=2,
)
