"""Random bytes from the OS (os.urandom on both runtimes: mbedTLS/hardware RNG on boards)."""

from rtc_micro import compat

_urandom = compat.urandom


def random_bytes(n):
    """`n` random bytes."""
    return _urandom(n)


def random_into(buf):
    """Fill the bytearray/memoryview `buf` with random bytes."""
    buf[0 : len(buf)] = _urandom(len(buf))
