"""End to end without aiortc: rtc_micro's own client (examples/rtc_client.py: the offerer, ICE
controlling, DTLS server) against examples/device.py on the MicroPython Unix port and CPython.

The client runs in this process (CPython) or, device to device, on the MicroPython Unix port
too (esp32 profile, in 400 KB: its bytecode is in the heap there). The device runs the Pico W
profile, as the one-session tests of test_e2e_aiortc.py do (DeviceProcess comes from there).
"""

import asyncio
import os
import socket
import subprocess
import sys

import pytest

from host_tests.cpython import mpy_tree
from host_tests.cpython.test_e2e_aiortc import DeviceProcess

ROOT = mpy_tree.ROOT
sys.path.insert(0, os.path.join(ROOT, "examples"))

import rtc_client  # noqa: E402


@pytest.fixture(params=["micropython", "cpython"])
def device(request):
    mpy = request.getfixturevalue("mpy_dir") if request.param == "micropython" else None
    dev = DeviceProcess(request.param, mpy, mpy_tree.free_port(), "picow").start()
    request.addfinalizer(dev.stop)
    return dev


def test_client_connects_echoes_and_deletes(device):
    udp = mpy_tree.free_port(socket.SOCK_DGRAM)
    report = asyncio.run(rtc_client.session("127.0.0.1", device.port, "127.0.0.1", udp, 6))
    assert report[0].startswith("connected: offer -> channel open in ")
    assert sum(1 for line in report if line.endswith(" ok")) == 6, report
    assert report[-1].endswith("-> 200")


def test_device_to_device_on_micropython(mpy_dir):
    """Both ends on the MicroPython Unix port: the client as a board would run it."""
    dev = DeviceProcess("micropython", mpy_dir, mpy_tree.free_port(), "picow").start()
    try:
        env = dict(os.environ, MICROPYPATH=mpy_dir + ":.frozen")
        out = subprocess.run(
            [mpy_tree.MICROPYTHON, "-X", "heapsize=400k", "examples/rtc_client.py",
             "http://127.0.0.1:%d" % dev.port, "--udp-port",
             str(mpy_tree.free_port(socket.SOCK_DGRAM)), "--board", "esp32", "--messages", "4"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        lines = out.stdout.splitlines()
        assert out.returncode == 0, out.stdout + out.stderr
        assert lines[0].startswith("connected: offer -> channel open in ")
        assert sum(1 for line in lines if line.endswith(" ok")) == 4 and lines[-1].endswith("200")
    finally:
        dev.stop()
