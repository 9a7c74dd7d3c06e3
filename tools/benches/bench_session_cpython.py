"""Connection setup (offer -> first data channel open), CPython only, all rows in one run.

Prints the median of RUNS sessions for: aiortc <-> aiortc in one process; then the demo device
(examples/device.py, esp32s3 profile: sessions one after another need the memory an ended session
frees, which the esp32 budget does not get back yet, see docs/memory.md) on the MicroPython Unix
port (the board's heap budget plus its bytecode, tools/board_heap.py; modules from build/mpy as
tools/bench builds them, or $RTC_MICRO_MPY) and on CPython, each reached by two clients in turn:
aiortc, and rtc_micro's own client (examples/rtc_client.py on CPython, in this process: the
offerer, ICE controlling, DTLS server). The clock starts before the client makes its offer and
stops when its first channel opens, so each figure holds both halves' work and the HTTP POST.
Issue 8 targets: MicroPython device <= 1.0x aiortc<->aiortc, CPython device <= 0.3x.
"""

import asyncio
import http.client
import os
import socket
import subprocess
import sys
import time

import aioice
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "examples"))
sys.path.insert(0, ROOT)
import board_heap  # noqa: E402
import boards  # noqa: E402
from rtc_client import Client  # noqa: E402

from rtc_micro.crypto import x509  # noqa: E402

RUNS = 7
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def _free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _post(port, sdp):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("POST", "/whep", sdp.encode(), {"Content-Type": "application/sdp"})
    r = c.getresponse()
    body = r.read().decode()
    loc = r.getheader("Location")
    c.close()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    return body, loc, c


def _offerer():
    """An aiortc peer with one data channel, and the event its opening sets."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    opened = asyncio.Event()
    pc.createDataChannel("echo").on("open", opened.set)
    return pc, opened


async def _device_once(port):
    pc, opened = _offerer()
    t0 = time.perf_counter()
    await pc.setLocalDescription(await pc.createOffer())
    body, loc, c = await asyncio.get_running_loop().run_in_executor(
        None, _post, port, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(body, "answer"))
    await asyncio.wait_for(opened.wait(), 15)
    ms = (time.perf_counter() - t0) * 1000
    c.request("DELETE", loc)
    c.getresponse().read()
    await pc.close()
    return ms


_CLIENT = []  # profile and certificate of rtc_micro's client, made once (not timed)


async def _rtc_micro_once(port):
    if not _CLIENT:
        _CLIENT.append(boards.load("unix"))
        _CLIENT.append(x509.Certificate.generate("rtc_micro client"))
    c = Client(_CLIENT[0], _CLIENT[1], "127.0.0.1", _free_port(socket.SOCK_DGRAM))
    t0 = time.perf_counter()
    await c.connect("127.0.0.1", port)
    assert await c.wait(lambda: c.opened, 15000), c.states
    ms = (time.perf_counter() - t0) * 1000
    assert await c.close("127.0.0.1", port) == 200
    return ms


async def _aiortc_once():
    a, opened = _offerer()
    b = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    t0 = time.perf_counter()
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)
    await asyncio.wait_for(opened.wait(), 15)
    ms = (time.perf_counter() - t0) * 1000
    await a.close()
    await b.close()
    return ms


def _median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def _device(runtime):
    port = _free_port()
    env = dict(os.environ)
    if runtime == "micropython":
        mpy = os.environ.get("RTC_MICRO_MPY", os.path.join(ROOT, "build", "mpy"))
        env["MICROPYPATH"] = mpy + ":.frozen"
        heap = board_heap.heap_for("esp32s3", mpy, os.path.join(ROOT, "examples", "device.py"))
        argv = [os.path.join(ROOT, ".venv", "bin", "micropython"), "-X", "heapsize=%d" % heap]
    else:
        argv = [sys.executable]
    proc = subprocess.Popen(argv + ["examples/device.py", "--port", str(port),
                                    "--board", "esp32s3"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    times = {"aiortc": [], "rtc_micro": []}
    try:
        assert proc.stdout.readline().startswith("listening"), "device did not start"
        for _ in range(RUNS):
            for client, once in (("aiortc", _device_once), ("rtc_micro", _rtc_micro_once)):
                time.sleep(0.5)  # let the device end the previous session, as a client would
                times[client].append(asyncio.run(once(port)))
    finally:
        proc.kill()
        proc.wait()
    return times


def main():
    ref = _median([asyncio.run(_aiortc_once()) for _ in range(RUNS)])
    print("setup aiortc<->aiortc: %.1f ms" % ref)
    for runtime in ("micropython", "cpython"):
        for client, ms in _device(runtime).items():
            ms = _median(ms)
            print("setup device(%s)<-%s: %.1f ms (%.2fx aiortc<->aiortc)" % (
                runtime, client, ms, ms / ref))


main()
