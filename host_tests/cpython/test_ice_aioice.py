"""Interop: aioice (aiortc's ICE, full agent, controlling) connects to our ICE-lite agent running
on the MicroPython Unix port in a second process (examples/ice_lite_device.py), over loopback UDP.

CPython only (subprocess, sockets, asyncio). Everything is bounded by timeouts and the device
process is stopped by pid in a `finally`.
"""

import asyncio
import os
import select
import signal
import subprocess
import sys

import pytest

aioice = pytest.importorskip("aioice")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import boards  # noqa: E402

MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
DEVICE = os.path.join(ROOT, "examples", "ice_lite_device.py")
DEVICE_PWD = "device-password-22chars"


def start_device(remote_ufrag, seconds=25):
    """Start the device on the Unix port with the esp32 heap; returns (process, port, ufrag)."""
    heap = boards.load("esp32").heap_bytes
    proc = subprocess.Popen(
        [MICROPYTHON, "-X", "heapsize=%d" % heap, DEVICE, "--port", "0", "--pwd", DEVICE_PWD,
         "--remote-ufrag", remote_ufrag, "--seconds", str(seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline().decode() if ready else ""
    words = line.split()
    if len(words) < 7 or words[0] != "listening":
        stop(proc)
        raise AssertionError("device did not start: %r %r" % (line, proc.stdout.read()))
    return proc, int(words[2]), words[4]


def stop(proc):
    """Stop the device by its pid (SIGINT: it prints a summary; SIGKILL if it lingers)."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=5)
    return out.decode()


async def connect_and_echo(port, ufrag, remote_is_lite, local_ufrag):
    conn = aioice.Connection(
        ice_controlling=True, components=1, use_ipv6=False, local_username=local_ufrag
    )
    conn.remote_is_lite = remote_is_lite
    conn.remote_username = ufrag
    conn.remote_password = DEVICE_PWD
    try:
        await asyncio.wait_for(conn.gather_candidates(), 5)
        await conn.add_remote_candidate(
            aioice.Candidate(
                foundation="1", component=1, transport="udp", priority=2130706431,
                host="127.0.0.1", port=port, type="host",
            )
        )
        await conn.add_remote_candidate(None)
        await asyncio.wait_for(conn.connect(), 10)
        echoes = []
        for i in range(3):
            payload = b"\x80 rtc_micro echo %d" % i  # first byte 128: not STUN (RFC 7983)
            await conn.send(payload)
            echoes.append(await asyncio.wait_for(conn.recv(), 5) == payload)
        return echoes
    finally:
        await conn.close()


@pytest.mark.parametrize("remote_is_lite", [True, False], ids=["regular", "aggressive"])
def test_aioice_connects_to_micropython_ice_lite(monkeypatch, remote_is_lite):
    # aioice leaves 127.0.0.1 out of its host candidates: gather on loopback only here.
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])
    local_ufrag = "aio1" if remote_is_lite else "aio2"
    proc, port, ufrag = start_device(local_ufrag)
    try:
        echoes = asyncio.run(
            asyncio.wait_for(connect_and_echo(port, ufrag, remote_is_lite, local_ufrag), 20)
        )
    finally:
        out = stop(proc)
    assert echoes == [True, True, True], out
    assert "event ICE_CONNECTED 127.0.0.1:" in out, out
    assert "check 1 from 127.0.0.1:" in out, out
    assert out.count("echoed 18 bytes") == 3, out
    assert "done: answered" in out and "malformed 0, bad_integrity 0" in out, out
