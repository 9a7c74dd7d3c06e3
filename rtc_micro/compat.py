"""The one runtime-aware module: MicroPython or CPython.

Everything else imports `const`, `fast`, ticks and random from here and never asks which runtime
it is on. Hot loops are written as `@micropython.viper` functions with a pure twin, chosen once
with `fast(viper_fn, pure_fn)`; viper code imports its annotation names (`ptr8`, `uint`, ...)
from here so that its source also loads on CPython.
"""

import sys

MICROPYTHON = sys.implementation.name == "micropython"

if MICROPYTHON:
    import micropython
    import os
    import time

    const = micropython.const
    ticks_ms = time.ticks_ms
    ticks_add = time.ticks_add
    ticks_diff = time.ticks_diff
    urandom = os.urandom
    heap_lock = micropython.heap_lock
    heap_unlock = micropython.heap_unlock

    # Names that viper annotations use; the compiler resolves them itself.
    ptr8 = ptr16 = ptr32 = uint = None

    def fast(viper_fn, pure_fn):
        """Pick the `@viper`/`@native` implementation on MicroPython."""
        return viper_fn

else:
    import os
    import time

    def const(value):
        return value

    def _identity(fn):
        return fn

    # Modules with hot loops write `import micropython` and `@micropython.viper` literally (the
    # MicroPython compiler only recognises that spelling); on CPython this stand-in makes those
    # decorators no-ops. rtc_micro/__init__.py imports compat first, so it is always in place.
    _shim = type(sys)("micropython")
    _shim.const = const
    _shim.native = _identity
    _shim.viper = _identity
    sys.modules.setdefault("micropython", _shim)

    # Annotation names of viper code, so its source also loads on CPython.
    ptr8 = ptr16 = ptr32 = uint = None

    _TICKS_PERIOD = 1 << 30
    _TICKS_MAX = _TICKS_PERIOD - 1
    _TICKS_HALF = _TICKS_PERIOD // 2

    def ticks_ms():
        """Milliseconds in MicroPython's 30-bit ticks domain."""
        return int(time.monotonic() * 1000) & _TICKS_MAX

    def ticks_add(ticks, delta):
        return (ticks + delta) & _TICKS_MAX

    def ticks_diff(a, b):
        return ((a - b + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF

    urandom = os.urandom
    heap_lock = None
    heap_unlock = None

    def fast(viper_fn, pure_fn):
        """Pick the pure twin on CPython (viper code wraps at the machine word)."""
        return pure_fn


def ticks_max(a, b):
    """The later of two tick values (`None` counts as absent)."""
    if a is None:
        return b
    if b is None:
        return a
    return a if ticks_diff(a, b) >= 0 else b


def ticks_min(a, b):
    """The sooner of two deadlines (`None` counts as absent)."""
    if a is None:
        return b
    if b is None:
        return a
    return a if ticks_diff(a, b) <= 0 else b
