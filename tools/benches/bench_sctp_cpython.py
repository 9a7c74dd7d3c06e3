"""aiortc <-> aiortc SCTP + data channel throughput vs rtc_micro <-> rtc_micro (CPython only).

Both sides in one process with DTLS left out: aiortc's RTCSctpTransport runs over an in-memory
stand-in for RTCDtlsTransport (as aiortc's own tests do), rtc_micro over direct handle_packet
calls, so the figures compare SCTP + data channel code alone. 64 KiB reliable ordered messages.
The MicroPython figure comes from bench_sctp.py on the Unix port in a subprocess (precompiled
modules from build/mpy, as tools/bench builds them). Run: tools/bench sctp_cpython
"""

import asyncio
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from aiortc.rtcdatachannel import RTCDataChannel, RTCDataChannelParameters  # noqa: E402
from aiortc.rtcsctptransport import RTCSctpTransport  # noqa: E402

import bench_sctp  # noqa: E402
import boards  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
TOTAL = 32 * 1024 * 1024
SIZE = 65536


class _Dtls:
    """What RTCSctpTransport needs of RTCDtlsTransport: a role and a datagram pipe."""

    def __init__(self, role):
        self._role = role
        self.state = "connected"
        self.peer = None
        self._receiver = None

    def _register_data_receiver(self, receiver):
        self._receiver = receiver

    def _unregister_data_receiver(self, receiver):
        self._receiver = None

    async def _send_data(self, data):
        r = self.peer._receiver
        if r is not None:
            asyncio.ensure_future(r._handle_data(data))


async def _aiortc(total, size):
    da, db = _Dtls("client"), _Dtls("server")
    da.peer, db.peer = db, da
    a, b = RTCSctpTransport(da), RTCSctpTransport(db)
    got = [0]
    done = asyncio.Event()

    @b.on("datachannel")
    def on_channel(ch):
        @ch.on("message")
        def on_message(m):
            got[0] += len(m)
            if got[0] >= total:
                done.set()

    await a.start(b.getCapabilities(), 5000)
    await b.start(a.getCapabilities(), 5000)
    ch = RTCDataChannel(a, RTCDataChannelParameters(label="bench"))
    while ch.readyState != "open":
        await asyncio.sleep(0.001)
    msg = bytes(size)
    t0 = time.perf_counter()
    sent = 0
    while sent < total:
        while sent < total and ch.bufferedAmount < 1024 * 1024:
            ch.send(msg)
            sent += size
        await asyncio.sleep(0)
    await asyncio.wait_for(done.wait(), 120)
    dt = time.perf_counter() - t0
    await a.stop()
    await b.stop()
    return total / dt / 1e6


def micropython_rate():
    """MB/s of bench_sctp.py on the Unix port, or (None, why)."""
    exe = os.path.join(ROOT, ".venv", "bin", "micropython")
    env = dict(os.environ, MICROPYPATH="build/mpy:.:.frozen")
    try:
        out = subprocess.run([exe, "-X", "heapsize=2m", "tools/benches/bench_sctp.py"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    for line in out.stdout.splitlines():
        if line.startswith("sctp_reliable_64k_in_process:"):
            return float(line.split(":")[1].split()[0]), ""
    return None, ((out.stdout + out.stderr).strip().splitlines() or ["no output"])[-1]


def main():
    mp, why = micropython_rate()
    ours = bench_sctp.run(boards.load("unix"), TOTAL, SIZE)[0]
    theirs = asyncio.run(_aiortc(TOTAL, SIZE))
    print("sctp_reliable_64k_rtc_micro_cpython: %.1f MB/s" % ours)
    print("sctp_reliable_64k_aiortc: %.1f MB/s" % theirs)
    print("sctp_reliable_64k_cpython_vs_aiortc: %.1f x" % (ours / theirs))
    if mp is None:
        print("sctp_reliable_64k_micropython: not measured (%s)" % why)
    else:
        print("sctp_reliable_64k_micropython: %.1f MB/s" % mp)
        print("sctp_reliable_64k_micropython_vs_aiortc: %.1f x" % (mp / theirs))


if __name__ == "__main__":
    main()
