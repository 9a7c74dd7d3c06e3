"""Byte moves shared by protocols and codecs: `@viper` on MicroPython, a pure twin on CPython."""

import micropython

from rtc_micro.compat import fast, ptr8


@micropython.viper
def _copy_viper(dst: ptr8, dst_off: int, src: ptr8, src_off: int, n: int):
    if dst_off <= src_off:
        for i in range(n):
            dst[dst_off + i] = src[src_off + i]
    else:  # overlapping move to the right: copy backwards
        i = n - 1
        while i >= 0:
            dst[dst_off + i] = src[src_off + i]
            i -= 1


def _copy_pure(dst, dst_off, src, src_off, n):
    if dst is src or (type(src) is memoryview and src.obj is dst):  # may overlap: copy first
        src = bytes(memoryview(src)[src_off:src_off + n])
        src_off = 0
    dst[dst_off:dst_off + n] = memoryview(src)[src_off:src_off + n]


# copy_into(dst, dst_off, src, src_off, n): dst[dst_off:dst_off+n] = src[src_off:src_off+n]
# without a slice object on MicroPython (overlapping moves inside one buffer are safe).
copy_into = fast(_copy_viper, _copy_pure)
