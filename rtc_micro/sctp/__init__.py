"""SCTP for WebRTC data channels: `packet` (wire format, CRC-32c), `association` (machine)."""
