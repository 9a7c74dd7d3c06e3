"""DTLS-SRTP interop with OpenSSL's command line over loopback (RFC 6347, RFC 5764, RFC 5705).

Our side is examples/dtls_echo.py, run under the MicroPython Unix port and under CPython; the
other side is `openssl s_server`/`s_client -dtls1_2` with use_srtp, the EXTRACTOR-dtls_srtp
export and a small MTU. Exported keys must match byte for byte; data flows both ways.
"""

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time

import pytest

from host_tests.cpython import mpy_tree  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
ECHO = os.path.join(ROOT, "examples", "dtls_echo.py")
LIMIT_S = 25

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@pytest.fixture(scope="module")
def pem(tmp_path_factory):
    d = tmp_path_factory.mktemp("dtls_pem")
    key, cert = str(d / "key.pem"), str(d / "cert.pem")
    subprocess.run(
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key],
        check=True, capture_output=True,
    )
    subprocess.run(
        ["openssl", "req", "-x509", "-new", "-key", key, "-subj", "/CN=x", "-days", "1",
         "-out", cert],
        check=True, capture_output=True,
    )
    return cert, key


def free_port():
    return mpy_tree.free_port(socket.SOCK_DGRAM)


class Proc:
    """A child process whose stdout lines are collected by a thread."""

    def __init__(self, argv, cwd=ROOT):
        self.argv = argv
        self.p = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1,
        )
        self.lines = []
        self._q = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.p.stdout:
            self._q.put(line.rstrip("\n"))

    def wait_for(self, prefix, deadline):
        """The first line starting with `prefix` (already seen or arriving before `deadline`)."""
        while True:
            for line in self.lines:
                if line.startswith(prefix):
                    return line
            left = deadline - time.monotonic()
            if self.p.poll() is not None and self._reader.is_alive():
                self._reader.join(2)  # the process ended: let its last lines arrive first
            if left <= 0 or (self.p.poll() is not None and not self._reader.is_alive()
                             and self._q.empty()):
                raise AssertionError(
                    "%s: no line %r within the limit; output:\n%s"
                    % (self.argv[0], prefix, "\n".join(self.lines))
                )
            try:
                self.lines.append(self._q.get(timeout=max(0.01, min(left, 0.5))))
            except queue.Empty:
                pass

    def write(self, text):
        self.p.stdin.write(text)
        self.p.stdin.flush()

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(timeout=5)


def ours(runtime, args):
    if runtime == "micropython":
        if not os.path.exists(MICROPYTHON):
            pytest.skip("no MicroPython Unix port in .venv")
        argv = [MICROPYTHON, "-X", "heapsize=512k", ECHO]
    else:
        argv = [sys.executable, ECHO]
    return Proc(argv + args + ["--seconds", str(LIMIT_S)])


SRTP_IDS = {"SRTP_AES128_CM_SHA1_80": "0x0001", "SRTP_AEAD_AES_128_GCM": "0x0007"}
CASES = [
    ("X25519:P-256", "SRTP_AES128_CM_SHA1_80", "X25519"),
    ("P-256", "SRTP_AEAD_AES_128_GCM", "ECDH, prime256v1"),
]


def _keymat(line):
    return line.split(":", 1)[1].strip().upper()


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
@pytest.mark.parametrize("groups,srtp,temp_key", CASES)
def test_openssl_client_against_our_server(pem, runtime, groups, srtp, temp_key):
    cert, key = pem
    port = free_port()
    deadline = time.monotonic() + LIMIT_S
    server = client = None
    try:
        server = ours(runtime, ["--server", str(port), "--mtu", "500", "--count", "1"])
        server.wait_for("listening", deadline)
        client = Proc([
            "openssl", "s_client", "-dtls1_2", "-connect", "127.0.0.1:%d" % port,
            "-cert", cert, "-key", key, "-groups", groups, "-use_srtp", srtp,
            "-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen", "60", "-mtu", "500",
        ])
        theirs = _keymat(client.wait_for("    Keying material:", deadline))
        mine = server.wait_for("keymat=", deadline)[len("keymat="):]
        assert len(mine) == 120 and mine == theirs
        assert server.wait_for("connected", deadline).endswith(SRTP_IDS[srtp])
        assert temp_key in client.wait_for("Server Temp Key:", deadline)
        client.write("hello from openssl\n")
        assert server.wait_for("recv: ", deadline) == "recv: hello from openssl"
        n = len(client.lines)
        client.wait_for("hello from openssl", deadline)  # the echo, printed by s_client
        assert any(line == "hello from openssl" for line in client.lines[n - 1 :])
    finally:
        for p in (client, server):
            if p is not None:
                p.stop()


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
@pytest.mark.parametrize("groups,srtp,temp_key", CASES)
def test_our_client_against_openssl_server(pem, runtime, groups, srtp, temp_key):
    cert, key = pem
    port = free_port()
    deadline = time.monotonic() + LIMIT_S
    server = client = None
    try:
        server = Proc([
            "openssl", "s_server", "-dtls1_2", "-accept", "127.0.0.1:%d" % port,
            "-cert", cert, "-key", key, "-groups", groups, "-use_srtp", srtp, "-verify", "1",
            "-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen", "60", "-mtu", "500",
        ])
        server.wait_for("ACCEPT", deadline)
        client = ours(runtime, [
            "--client", "127.0.0.1:%d" % port, "--mtu", "500", "--send", "hello from us",
            "--count", "1",
        ])
        mine = client.wait_for("keymat=", deadline)[len("keymat="):]
        theirs = _keymat(server.wait_for("    Keying material:", deadline))
        assert len(mine) == 120 and mine == theirs
        assert client.wait_for("connected", deadline).endswith(SRTP_IDS[srtp])
        assert server.wait_for("hello from us", deadline) == "hello from us"
        server.write("hi from openssl\n")
        assert client.wait_for("recv: ", deadline) == "recv: hi from openssl"
        assert client.wait_for("closed", deadline) == "closed"
    finally:
        for p in (client, server):
            if p is not None:
                p.stop()


def test_openssl_client_without_certificate_is_refused():
    port = free_port()
    deadline = time.monotonic() + LIMIT_S
    server = client = None
    try:
        server = ours("cpython", ["--server", str(port)])
        server.wait_for("listening", deadline)
        client = Proc([
            "openssl", "s_client", "-dtls1_2", "-connect", "127.0.0.1:%d" % port,
            "-use_srtp", "SRTP_AES128_CM_SHA1_80",
        ])
        reason = server.wait_for("failed: ", deadline)
        assert "sent no certificate" in reason
    finally:
        for p in (client, server):
            if p is not None:
                p.stop()


def test_our_client_on_cpython_against_our_server_on_micropython():
    port = free_port()
    deadline = time.monotonic() + LIMIT_S
    server = client = None
    try:
        server = ours("micropython", ["--server", str(port), "--mtu", "500", "--count", "1"])
        server.wait_for("listening", deadline)
        client = ours("cpython", [
            "--client", "127.0.0.1:%d" % port, "--send", "across runtimes", "--count", "1",
        ])
        mine = client.wait_for("keymat=", deadline)
        assert mine == server.wait_for("keymat=", deadline) and len(mine) == 7 + 120
        assert server.wait_for("recv: ", deadline) == "recv: across runtimes"
        assert client.wait_for("recv: ", deadline) == "recv: across runtimes"  # the echo
        assert client.wait_for("connected", deadline).endswith("0x0007")  # GCM preferred
    finally:
        for p in (client, server):
            if p is not None:
                p.stop()
