"""Benchmark: the media hot paths on both runtimes (`tools/bench media`).

G.711 µ-law encode of one 20 ms frame (160 samples), RTP packetize of that frame through
RtpSender (encode into the NACK-history slot, header, queue, drain), RTP header parse, and
H.264 packetization of a 30 KB access unit (FU-A at the default MTU). Prints the best and the
median of RUNS batches, per operation (`name: best / median unit`).
"""

import sys

sys.path.insert(0, ".")

import boards  # noqa: E402
from rtc_micro import rtp  # noqa: E402
from rtc_micro.codecs import g711, h264  # noqa: E402
from rtc_micro.media import RtpSender  # noqa: E402

from benchclock import elapsed_us, now_us  # noqa: E402


RUNS = 7


def per_op_us(fn, count, a=None, b=None):
    """(best, median) µs per call of fn(a, b), over RUNS batches of `count` calls."""
    times = []
    for _ in range(RUNS):
        t0 = now_us()
        for _ in range(count):
            fn(a, b)
        times.append(elapsed_us(t0) / count)
    times.sort()
    return times[0], times[RUNS // 2]


def report(name, best, median, unit):
    print("%s: %.2f / %.2f %s" % (name, best, median, unit))


def main():
    profile = boards.load("unix")
    pcm = bytearray(320)
    for i in range(160):
        v = (i * 2731 % 16000) - 8000
        pcm[2 * i] = v & 255
        pcm[2 * i + 1] = (v >> 8) & 255
    out = bytearray(160)

    def g711_encode(a, b):
        g711.ulaw_encode(pcm, 0, 160, out, 0)

    best, med = per_op_us(g711_encode, 2000)
    report("g711 ulaw encode 160 samples", best, med, "us")

    sender = RtpSender(profile, g711.PT_PCMU, 8000)
    slab = sender.slab

    def packetize(a, b):
        off = sender.reserve()
        g711.ulaw_encode(pcm, 0, 160, slab, off)
        sender.commit(160, 0, 0)
        sender.advance(160)
        sender.poll_transmit()

    best, med = per_op_us(packetize, 2000)
    report("rtp packetize g711 20 ms (encode+header+queue)", best, med, "us")
    report("rtp packetize g711 20 ms", 1e6 / med, 1e6 / best, "packets/s (median / best)")

    pkt = bytearray(sender.out_data[0:172])
    hdr = rtp.RtpHeader()

    def parse(a, b):
        rtp.pull_header(pkt, 0, 172, hdr)

    best, med = per_op_us(parse, 5000)
    report("rtp header parse", best, med, "us")

    frame = bytearray(30 * 1024)
    frame[0:4] = b"\x00\x00\x00\x01"
    frame[4] = 0x41
    for i in range(5, len(frame)):
        frame[i] = (i * 7 + 3) & 255 or 1
    p = h264.H264Packetizer(profile)
    buf = bytearray(p.max_payload)

    def h264_packetize(a, b):
        p.begin(frame, 0, len(frame))
        while p.next(buf, 0):
            pass

    best, med = per_op_us(h264_packetize, 20)
    report("h264 packetize 30 KB access unit (%d FU-A)" % (len(frame) // (p.max_payload - 2) + 1),
           best, med, "us")


main()
