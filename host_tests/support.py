"""Helpers shared by tests on both runtimes (pytest on CPython, tools/mptest.py on MicroPython)."""

from rtc_micro import compat


class Skip(Exception):
    """Raised to skip a test; the MicroPython runner counts it as skipped."""


def skip(reason):
    """Skip the running test with `reason` (pytest.skip on CPython)."""
    if not compat.MICROPYTHON:
        import pytest

        pytest.skip(reason)
    raise Skip(reason)


def assert_no_alloc(fn, *args):
    """Assert that `fn(*args)` allocates nothing, under `micropython.heap_lock()`.

    Calls it once unlocked first (warm-up: first-call caches), then locked. Skipped on CPython.
    Returns the locked call's result.
    """
    if not compat.MICROPYTHON:
        skip("heap_lock exists only on MicroPython")
    fn(*args)
    n = len(args)
    if n > 6:
        raise ValueError("assert_no_alloc takes at most 6 arguments")
    a = args + (None,) * (6 - n)  # a `*args` call would itself allocate under the lock
    compat.heap_lock()
    try:
        if n == 0:
            result = fn()
        elif n == 1:
            result = fn(a[0])
        elif n == 2:
            result = fn(a[0], a[1])
        elif n == 3:
            result = fn(a[0], a[1], a[2])
        elif n == 4:
            result = fn(a[0], a[1], a[2], a[3])
        elif n == 5:
            result = fn(a[0], a[1], a[2], a[3], a[4])
        else:
            result = fn(a[0], a[1], a[2], a[3], a[4], a[5])
    except MemoryError:
        compat.heap_unlock()
        raise AssertionError("%s allocated under heap_lock" % getattr(fn, "__name__", fn))
    compat.heap_unlock()
    return result


def raises(exc_type, fn, *args):
    """Assert that `fn(*args)` raises `exc_type`; return the exception."""
    try:
        fn(*args)
    except exc_type as e:
        return e
    raise AssertionError("%s did not raise %s" % (getattr(fn, "__name__", fn), exc_type.__name__))
