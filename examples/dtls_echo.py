"""DTLS 1.2 echo over UDP, to test rtc_micro's DTLS against other stacks (MicroPython and CPython).

    python3 examples/dtls_echo.py --server 4444
    micropython -X heapsize=512k examples/dtls_echo.py --client 127.0.0.1:4444 --send hello
    openssl s_client -dtls1_2 -connect 127.0.0.1:4444 -use_srtp SRTP_AES128_CM_SHA1_80 \
        -keymatexport EXTRACTOR-dtls_srtp -keymatexportlen 60 -cert c.pem -key k.pem

The server echoes every application-data record back; the client sends each `--send TEXT` line
(and stdin lines with `--stdin`) and prints what comes back. Lines printed: `listening PORT`,
`fingerprint FP` (ours, for the peer's SDP), `connected srtp_profile=0xNNNN`, `keymat=HEX` (the
RFC 5705 `EXTRACTOR-dtls_srtp` export, `--keymat-len` bytes, default 60), `recv: TEXT`,
`closed`, `failed: REASON`. Options: `--cert FILE` (PEM certificate and EC private key, as
`x509.Certificate.save` writes them; or the certificate alone with `--key FILE`),
`--fingerprint FP` (the peer's, checked), `--mtu N`, `--board NAME` (profile, default unix),
`--count N` (stop after N received records), `--seconds N` (give up after N s), `--srtp 1|7`
(repeatable: SRTP profiles offered, in order). Our server requires a client certificate, as
WebRTC does: give OpenSSL one (`-cert c.pem -key k.pem`, see docs/dtls.md).
"""

import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _here + "/..")

import os  # noqa: E402
import select  # noqa: E402

import boards  # noqa: E402
from rtc_micro import events  # noqa: E402
from rtc_micro.compat import ticks_add, ticks_diff, ticks_ms  # noqa: E402
from rtc_micro.crypto import x509  # noqa: E402
from rtc_micro.drivers.udp import UdpDriver, resolve  # noqa: E402
from rtc_micro.dtls import Connection  # noqa: E402


def parse_args(argv):
    opts = {"send": [], "srtp": [], "count": 0, "seconds": 30, "keymat_len": 60, "board": "unix"}
    i = 0
    while i < len(argv):
        key = argv[i]
        if key == "--stdin":
            opts["stdin"] = True
            i += 1
            continue
        if i + 1 >= len(argv) or not key.startswith("--"):
            raise SystemExit("usage: see the docstring of examples/dtls_echo.py")
        val = argv[i + 1]
        name = key[2:].replace("-", "_")
        if name in ("send", "srtp"):
            opts[name].append(val)
        elif name in ("count", "seconds", "mtu", "keymat_len"):
            opts[name] = int(val)
        else:
            opts[name] = val
        i += 2
    if ("server" in opts) == ("client" in opts):
        raise SystemExit("give exactly one of --server PORT or --client HOST:PORT")
    return opts


def load_certificate(opts):
    if "cert" not in opts:
        return x509.Certificate.generate("dtls_echo")
    if "key" not in opts:
        return x509.Certificate.load(opts["cert"])
    # Certificate.load reads one PEM file holding both blocks: join the two files.
    path = "/tmp/dtls_echo_cert_and_key.pem"
    with open(path, "w") as out:
        for name in (opts["cert"], opts["key"]):
            with open(name) as f:
                out.write(f.read())
    try:
        return x509.Certificate.load(path)
    finally:
        os.remove(path)


def main(argv):
    opts = parse_args(argv)
    profile = boards.load(opts["board"])
    if "mtu" in opts:
        profile = profile.derive(mtu=opts["mtu"])
    cert = load_certificate(opts)
    srtp = tuple(int(p, 0) for p in opts["srtp"]) or (0x0007, 0x0001)
    if "server" in opts:
        role = "server"
        udp = UdpDriver("0.0.0.0", int(opts["server"]))
        print("listening %d" % int(opts["server"]))
    else:
        role = "client"
        host, port = opts["client"].rsplit(":", 1)
        udp = UdpDriver("0.0.0.0", 0, resolve(host, int(port)))
    print("fingerprint %s" % cert.fingerprint())
    conn = Connection(profile, role, cert, opts.get("fingerprint"), srtp)
    stdin = None
    if opts.get("stdin"):
        stdin = select.poll()
        stdin.register(sys.stdin, select.POLLIN)
    if role == "client":
        conn.start(ticks_ms())
    end_at = ticks_add(ticks_ms(), opts["seconds"] * 1000)
    received = 0
    status = 1
    try:
        while ticks_diff(end_at, ticks_ms()) > 0:
            udp.step(conn, 20 if stdin else 200)
            done = False
            while True:
                kind = conn.poll_event()
                if not kind:
                    break
                if kind == events.DTLS_CONNECTED:
                    print("connected srtp_profile=0x%04x" % conn.srtp_profile)
                    km = conn.export_keying_material("EXTRACTOR-dtls_srtp", opts["keymat_len"])
                    print("keymat=" + "".join("%02X" % b for b in km))
                    for line in opts["send"]:
                        data = line.encode() + b"\n"
                        conn.send(data, 0, len(data), ticks_ms())
                elif kind == events.DTLS_DATA:
                    data = bytes(conn.ev_data)
                    print("recv: " + data.decode().rstrip("\n"))
                    if role == "server":
                        conn.send(data, 0, len(data), ticks_ms())
                    received += 1
                    if opts["count"] and received >= opts["count"]:
                        conn.close(ticks_ms())
                        status = 0
                elif kind == events.DTLS_CLOSED:
                    print("closed")
                    status = 0
                    done = True
                elif kind == events.DTLS_FAILED:
                    print("failed: " + conn.ev_reason)
                    done = True
            if stdin and conn.connected and stdin.poll(0):
                line = sys.stdin.readline()
                if not line:
                    conn.close(ticks_ms())
                else:
                    data = line.encode()
                    conn.send(data, 0, len(data), ticks_ms())
            udp.flush(conn)
            if done:
                break
        else:
            print("failed: no result within %d s" % opts["seconds"])
    finally:
        udp.close()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
