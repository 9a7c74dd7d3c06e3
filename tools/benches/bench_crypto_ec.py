"""Benchmark: P-256 key pair / ECDH / ECDSA sign / verify and X25519 through crypto.ec.

Runs on both runtimes (`tools/bench crypto_ec`): MicroPython measures the pure back end, CPython
measures `cryptography` and then the pure back end (for the differential picture). Prints the best
and the median of RUNS consecutive runs per operation (`name: figure ms`); garbage collection
runs when the heap fills, as in an application, so the median includes its share. The dev machine
is shared: the best figure is the cost of the code, the median shows the noise.
"""

import gc
import sys

sys.path.insert(0, ".")

from rtc_micro import compat  # noqa: E402
from rtc_micro.crypto import ec, p256, x25519  # noqa: E402
from rtc_micro.crypto.random import random_bytes  # noqa: E402

from benchclock import elapsed_us, now_us  # noqa: E402


RUNS = 15


def timed_ms(fn, a=None, b=None, c=None):
    """(best, median) of RUNS calls in ms."""
    times = []
    for _ in range(RUNS):
        t0 = now_us()
        fn(a, b, c)
        times.append(elapsed_us(t0))
    times.sort()
    return times[0] / 1000, times[RUNS // 2] / 1000


def report(name, ms):
    if isinstance(ms, tuple):
        print("%s: %.3f ms" % (name, ms[0]))
        print("%s_median: %.3f ms" % (name, ms[1]))
    else:
        print("%s: %.3f ms" % (name, ms))


def run(prefix, keypair, ecdh, sign, verify, xkeypair, xdh):
    priv, pub = keypair()
    peer_priv, peer_pub = keypair()
    digest = bytes(range(32))
    sig = sign(priv, digest)
    assert verify(pub, digest, sig)
    xpriv, xpub = xkeypair()
    xpeer = xkeypair()[1]
    report(prefix + "p256_keypair", timed_ms(lambda a, b, c: keypair()))
    report(prefix + "p256_ecdh", timed_ms(lambda a, b, c: ecdh(a, b), priv, peer_pub))
    report(prefix + "p256_sign", timed_ms(lambda a, b, c: sign(a, b), priv, digest))
    report(prefix + "p256_verify", timed_ms(lambda a, b, c: verify(a, b, c), pub, digest, sig))
    report(prefix + "x25519_keypair", timed_ms(lambda a, b, c: xkeypair()))
    report(prefix + "x25519", timed_ms(lambda a, b, c: xdh(a, b), xpriv, xpeer))


def main():
    gc.collect()
    t0 = now_us()
    ec.precompute()
    report("p256_precompute_table_once", elapsed_us(t0) / 1000)
    run(
        "",
        ec.p256_keypair,
        ec.p256_ecdh,
        ec.p256_sign,
        ec.p256_verify,
        ec.x25519_keypair,
        ec.x25519,
    )
    if not compat.MICROPYTHON:
        p256.precompute()
        run(
            "pure_",
            lambda: p256.keypair(random_bytes),
            p256.ecdh,
            p256.sign,
            p256.verify,
            lambda: x25519.keypair(random_bytes),
            x25519.x25519,
        )


main()
