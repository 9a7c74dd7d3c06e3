"""One small error hierarchy (see docs: peer input never raises; caller misuse does)."""


class RtcError(Exception):
    """Base of every error rtc_micro raises."""


class ConfigError(RtcError):
    """Bad configuration, raised at setup with a message saying what to change.

    (Not also a ValueError: MicroPython cannot combine two built-in exception bases.)
    """


class StateError(RtcError):
    """The caller used an object in a state that does not allow it."""


class BufferTooSmall(RtcError):
    """An output buffer the caller passed cannot hold the result."""


class ProtocolError(RtcError):
    """The peer broke the protocol; `code` carries the wire code (DTLS alert, SCTP cause)."""

    def __init__(self, reason, code=0):
        RtcError.__init__(self, reason)
        self.reason = reason
        self.code = code
