"""Span checks for the in-place crypto calls: viper code trusts its offsets, so check them first.

A span outside its buffer is a caller's mistake (`ConfigError`); `errors` is imported only on
that path.
"""


def misuse(message):
    """Raise ConfigError(message)."""
    from rtc_micro.errors import ConfigError

    raise ConfigError(message)


def check_span(name, buf, off, n):
    """ConfigError unless buf[off:off+n] lies inside `buf`; allocates nothing when it does."""
    if off < 0 or n < 0 or off + n > len(buf):
        misuse("%s[%d:%d] is outside its %d-byte buffer" % (name, off, off + n, len(buf)))
