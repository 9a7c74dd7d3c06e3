"""SRTP on CPython and on the MicroPython Unix port against libsrtp (pylibsrtp), as ratios.

protect+unprotect packets/s for a 12-byte header + 160-byte payload, both profiles, in one run:
rtc_micro on CPython (in process), pylibsrtp (in process), rtc_micro on the MicroPython Unix port
(bench_srtp.py in a subprocess, precompiled modules from build/mpy as tools/bench builds them).
On CPython, pylibsrtp and rtc_micro take turns for 5 half-second runs each; best of each.
Targets (issue 7): CPython >= 0.5x pylibsrtp; MicroPython >= 20,000 packets/s (GCM).
"""

import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from pylibsrtp import Policy, Session  # noqa: E402

from rtc_micro import srtp  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tools", "benches"))
import bench_srtp  # noqa: E402

PROFILES = (
    ("aes_cm_128_hmac_sha1_80", srtp.PROFILE_AES128_CM_SHA1_80,
     Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 14),
    ("aead_aes_128_gcm", srtp.PROFILE_AEAD_AES_128_GCM, Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 12),
)
_PAYLOAD = 160
_BATCH = 2000
_MIN_S = 0.5
_ROUNDS = 5  # libsrtp and ours alternate, best of each: a busy moment on the machine hits both


def _packet(seq):
    return bytes([0x80, 0]) + seq.to_bytes(2, "big") + bytes(4) + b"\x12\x34\x56\x78" + bytes(
        range(_PAYLOAD)
    )


def _libsrtp_once(profile, salt_len):
    """pylibsrtp protect+unprotect packets per second over one half-second run."""
    key = bytes(range(16)) + bytes(salt_len)
    tx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
    rx = Session(Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=profile))
    packets = [_packet(s) for s in range(65536)]
    done = 0
    t0 = time.perf_counter()
    while True:
        for i in range(done, done + _BATCH):
            rx.unprotect(tx.protect(packets[i & 0xFFFF]))
        done += _BATCH
        dt = time.perf_counter() - t0
        if dt >= _MIN_S:
            return done / dt


def micropython_rates():
    """{profile name: packets/s} from bench_srtp.py on the Unix port, or {} with a reason."""
    exe = os.path.join(ROOT, ".venv", "bin", "micropython")
    env = dict(os.environ, MICROPYPATH="build/mpy:.:.frozen")
    try:
        out = subprocess.run(
            [exe, "-X", "heapsize=2m", "tools/benches/bench_srtp.py"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return {}, str(e)
    rates = {}
    for line in out.stdout.splitlines():
        if line.startswith("srtp_") and line.endswith("packets/s"):
            name, figure = line.split(":")
            rates[name[5:]] = int(figure.split()[0])
    return rates, ((out.stdout + out.stderr).strip().splitlines() or ["no output"])[-1]


def main():
    mp_rates, mp_error = micropython_rates()
    for name, pid, profile, salt_len in PROFILES:
        theirs = mine = 0
        for _ in range(_ROUNDS):
            theirs = max(theirs, _libsrtp_once(profile, salt_len))
            mine = max(mine, bench_srtp.measure_once(pid))
        print("srtp_%s_pylibsrtp: %d packets/s" % (name, theirs))
        print("srtp_%s_cpython: %d packets/s" % (name, mine))
        print("srtp_%s_cpython_vs_pylibsrtp: %.2f x" % (name, mine / theirs))
        if name in mp_rates:
            mp = mp_rates[name]
            print("srtp_%s_micropython: %d packets/s" % (name, mp))
            print("srtp_%s_micropython_vs_pylibsrtp: %.3f x" % (name, mp / theirs))
        else:
            print("srtp_%s_micropython: unavailable (%s)" % (name, mp_error))


if __name__ == "__main__":
    main()
