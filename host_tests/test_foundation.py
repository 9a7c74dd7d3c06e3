"""compat shim and board profiles, on both runtimes."""

import boards
from host_tests.support import assert_no_alloc, raises
from rtc_micro import compat


def test_ticks_diff_wraps():
    a = compat.ticks_add(0, -5)
    assert compat.ticks_diff(compat.ticks_add(a, 10), a) == 10
    assert compat.ticks_diff(a, compat.ticks_add(a, 10)) == -10
    assert compat.ticks_diff(compat.ticks_add(a, 7), 0) == 2


def test_ticks_min_max():
    assert compat.ticks_min(None, 5) == 5
    assert compat.ticks_min(7, None) == 7
    assert compat.ticks_min(3, 9) == 3
    assert compat.ticks_max(3, 9) == 9
    assert compat.ticks_min(compat.ticks_add(0, -1), 2) == compat.ticks_add(0, -1)


def test_urandom_length():
    assert len(compat.urandom(16)) == 16
    assert compat.urandom(16) != compat.urandom(16)


def test_every_board_loads():
    for name in boards.NAMES:
        p = boards.load(name)
        assert p.name == name
        assert p.mtu >= 1200 and p.heap_bytes > 0 and p.transmit_slots > 0


def test_esp32_is_smaller_than_unix():
    assert boards.load("esp32").heap_bytes < boards.load("unix").heap_bytes
    assert boards.load("esp32").sctp_rwnd < boards.load("unix").sctp_rwnd


def test_unknown_board_and_size_raise_with_advice():
    e = raises(ValueError, boards.load, "esp8266")
    assert "esp32" in str(e)
    try:
        boards.load("unix").derive(mtuu=5)
    except ValueError as e:
        assert "mtuu" in str(e)
    else:
        raise AssertionError("derive accepted an unknown size")


def test_derive_changes_only_what_is_named():
    base = boards.load("esp32")
    p = base.derive(mtu=600)
    assert p.mtu == 600 and base.mtu == 1200 and p.sctp_rwnd == base.sctp_rwnd


def _store(buf):
    for i in range(len(buf)):
        buf[i] = i & 0xFF


def test_store_into_bytearray_is_allocation_free():
    assert_no_alloc(_store, bytearray(64))


def _grows(lst):
    lst.append(bytearray(8))


def test_heap_lock_helper_catches_allocation():
    from rtc_micro.compat import MICROPYTHON

    if not MICROPYTHON:
        from host_tests.support import skip

        skip("heap_lock exists only on MicroPython")
    raises(AssertionError, assert_no_alloc, _grows, [])


import micropython  # noqa: E402  (after rtc_micro: compat provides it on CPython)

from rtc_micro.compat import fast, ptr8, uint  # noqa: E402


@micropython.viper
def _sum_viper(buf: ptr8, n: int) -> uint:
    s = uint(0)
    for i in range(n):
        s += uint(buf[i])
    return s


def _sum_pure(buf, n):
    s = 0
    for i in range(n):
        s += buf[i]
    return s


_sum = fast(_sum_viper, _sum_pure)


def test_fast_picks_a_working_twin():
    buf = bytearray(b"\x01\x02\xff")
    assert _sum(buf, 3) == 258
    assert _sum_pure(buf, 3) == 258
    assert_no_alloc(_sum, buf, 3) if compat.MICROPYTHON else None
