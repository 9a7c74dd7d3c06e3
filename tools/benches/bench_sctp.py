"""SCTP + data channel throughput, rtc_micro <-> rtc_micro in one process (no network, no DTLS).

Prints `name: figure unit` lines. Run: tools/bench sctp (both runtimes).
"""

import sys

sys.path.insert(0, ".")

import boards  # noqa: E402
from rtc_micro import compat, events  # noqa: E402
from rtc_micro.datachannel import OPEN, DataChannels  # noqa: E402
from rtc_micro.sctp.association import ESTABLISHED, Association  # noqa: E402

if compat.MICROPYTHON:
    import time

    def clock_s():
        return time.ticks_us() / 1e6

else:
    import time

    def clock_s():
        return time.perf_counter()


def _exchange(x, y, now):
    """Deliver everything x has to send to y; returns the number of packets."""
    k = 0
    while True:
        n = x.poll_transmit()
        if not n:
            return k
        y.handle_packet(x.out_data, n, now)
        k += 1


def run(profile, total, size):
    a = DataChannels(Association(profile), True)
    b = DataChannels(Association(profile), False)
    now = compat.ticks_ms()
    a.association.connect(now)
    got = [0]

    def pump():
        now = compat.ticks_ms()
        for m in (a, b):
            t = m.poll_timeout()
            if t is not None and compat.ticks_diff(now, t) >= 0:
                m.handle_timeout(now)
        moved = _exchange(a, b, now) + _exchange(b, a, now)
        while a.poll_event():
            pass
        while True:
            kind = b.poll_event()
            if not kind:
                break
            if kind == events.CHANNEL_MESSAGE:
                got[0] += b.ev_len
        return moved

    while a.association.state != ESTABLISHED or b.association.state != ESTABLISHED:
        pump()
    ch = a.create_channel("bench")
    while ch.state != OPEN:
        pump()
    msg = bytes(size)
    sent = 0
    t0 = clock_s()
    while got[0] < total:
        while sent < total and a.send(ch, msg):
            sent += size
        pump()
    dt = clock_s() - t0
    return total / dt / 1e6, a.association.counters.retransmits


def main():
    prof = boards.load("unix")
    total = (4 if compat.MICROPYTHON else 32) * 1024 * 1024
    mbps, rtx = run(prof, total, 65536)
    print("sctp_reliable_64k_in_process: %.1f MB/s (%.0f Mbit/s, %d MiB, %d retransmits)"
          % (mbps, mbps * 8, total >> 20, rtx))
    return mbps


if __name__ == "__main__":
    main()
