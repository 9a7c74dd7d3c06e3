"""Clock for benchmarks on both runtimes (benchmarks may read clocks; the library never does)."""

import sys
import time

if sys.implementation.name == "micropython":

    def now_us():
        return time.ticks_us()

    def elapsed_us(t0):
        return time.ticks_diff(time.ticks_us(), t0)

else:

    def now_us():
        return time.perf_counter()

    def elapsed_us(t0):
        return (time.perf_counter() - t0) * 1e6
