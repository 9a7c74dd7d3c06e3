"""DTLS figures (both runtimes): handshake CPU time per role, the elliptic-curve share of it,
and the application-data record path (seal + open of 1,000-byte records)."""

import sys

sys.path.insert(0, ".")

import boards  # noqa: E402
from rtc_micro import events  # noqa: E402
from rtc_micro.crypto import ec, x509  # noqa: E402
from rtc_micro.dtls import Connection  # noqa: E402

from benchclock import elapsed_us  # noqa: E402
from benchclock import now_us as clock_us  # noqa: E402


class EcTimer:
    """Wraps the crypto.ec functions the handshake calls and adds up their time."""

    NAMES = ("p256_keypair", "p256_ecdh", "p256_sign", "p256_verify", "x25519_keypair", "x25519")

    def __init__(self):
        self.us = 0
        self._orig = {}
        for name in self.NAMES:
            self._orig[name] = getattr(ec, name)
            setattr(ec, name, self._wrap(self._orig[name]))

    def _wrap(self, fn):
        def timed(a=None, b=None, c=None):
            t0 = clock_us()
            if a is None:
                r = fn()
            elif c is None:
                r = fn(a, b) if b is not None else fn(a)
            else:
                r = fn(a, b, c)
            self.us += elapsed_us(t0)
            return r

        return timed


def handshake(profile, c_cert, s_cert, timer):
    """One in-memory handshake; returns (client_us, server_us, client_ec_us, server_ec_us)."""
    client = Connection(profile, "client", c_cert, s_cert.fingerprint())
    server = Connection(profile, "server", s_cert, c_cert.fingerprint())
    spent = [0, 0]
    ec_spent = [0, 0]
    now = 0
    t0 = clock_us()
    e0 = timer.us
    client.start(now)
    spent[0] += elapsed_us(t0)
    ec_spent[0] += timer.us - e0
    done = [False, False]
    pair = (client, server)
    for _ in range(40):
        moved = False
        for i in (0, 1):
            src, dst = pair[i], pair[1 - i]
            while True:
                n = src.poll_transmit()
                if not n:
                    break
                moved = True
                data = bytearray(src.out_data[0:n])
                t0 = clock_us()
                e0 = timer.us
                dst.handle_packet(data, n, now)
                spent[1 - i] += elapsed_us(t0)
                ec_spent[1 - i] += timer.us - e0
            while True:
                k = src.poll_event()
                if not k:
                    break
                if k == events.DTLS_CONNECTED:
                    done[i] = True
                elif k == events.DTLS_FAILED:
                    raise RuntimeError(src.ev_reason)
        if done[0] and done[1] and not moved:
            break
    if not (done[0] and done[1]):
        raise RuntimeError("handshake did not complete")
    return spent[0], spent[1], ec_spent[0], ec_spent[1], client, server


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def main():
    profile = boards.load("unix")
    c_cert = x509.Certificate.generate("client")
    s_cert = x509.Certificate.generate("server")
    timer = EcTimer()
    runs = 5
    rows = ([], [], [], [])
    client = server = None
    for _ in range(runs):
        r = handshake(profile, c_cert, s_cert, timer)
        for i in range(4):
            rows[i].append(r[i])
        client, server = r[4], r[5]
    c_us, s_us, c_ec, s_ec = median(rows[0]), median(rows[1]), median(rows[2]), median(rows[3])
    print("dtls_handshake_client_cpu: %.1f ms" % (c_us / 1000))
    print("dtls_handshake_client_ec_share: %d %%" % (100 * c_ec // max(1, c_us)))
    print("dtls_handshake_server_cpu: %.1f ms" % (s_us / 1000))
    print("dtls_handshake_server_ec_share: %d %%" % (100 * s_ec // max(1, s_us)))
    msg = bytearray(1000)
    rx = bytearray(profile.mtu)
    count = 200
    t0 = clock_us()
    for _ in range(count):
        client.send(msg, 0, 1000, 0)
        n = client.poll_transmit()
        rx[0:n] = client.out_data[0:n]
        server.handle_packet(rx, n, 0)
        server.poll_event()
    us = elapsed_us(t0)
    print("dtls_record_1000B_seal_open: %.1f us" % (us / count))
    print("dtls_record_throughput: %.1f Mbit/s" % (count * 1000 * 8 / us))


main()
