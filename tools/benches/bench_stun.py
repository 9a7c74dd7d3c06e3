"""STUN / ICE-lite figures (both runtimes): parse, fingerprint, and a whole answered check."""

import sys

sys.path.insert(0, ".")

import boards  # noqa: E402
from rtc_micro import stun  # noqa: E402
from rtc_micro.crypto.hmac import HmacSha1  # noqa: E402
from rtc_micro.ice import IceLiteAgent  # noqa: E402

from benchclock import elapsed_us  # noqa: E402
from benchclock import now_us as clock_us  # noqa: E402


PWD = b"a-password-of-22-chars"


def request():
    buf = bytearray(200)
    user = b"lite:peer"
    off = stun.push_header(buf, stun.BINDING_REQUEST, b"0123456789ab", 0)
    off = stun.push_attr(buf, off, stun.ATTR_USERNAME, user, 0, len(user))
    off = stun.push_attr(buf, off, stun.ATTR_PRIORITY, b"\x6e\x00\x01\xff", 0, 4)
    off = stun.push_attr(buf, off, stun.ATTR_ICE_CONTROLLING, b"\x01" * 8, 0, 8)
    off = stun.push_flag(buf, off, stun.ATTR_USE_CANDIDATE)
    off = stun.push_integrity(buf, off, HmacSha1(PWD))
    return buf, stun.push_fingerprint(buf, off)


def per_op_us(fn, a, b, c, n):
    fn(a, b, c)
    t0 = clock_us()
    for _ in range(n):
        fn(a, b, c)
    return elapsed_us(t0) / n


def parse(buf, n, msg):
    stun.pull_message(buf, n, msg)


def fingerprint(buf, n, msg):
    stun.check_fingerprint(buf, msg)


def answer(agent, buf, n):
    agent.handle_datagram(buf, n, ("10.0.0.2", 5000), 1)
    agent.poll_transmit()


def main():
    buf, n = request()
    msg = stun.StunMessage()
    stun.pull_message(buf, n, msg)
    agent = IceLiteAgent(boards.load("esp32"), "lite", PWD, "peer")
    runs = 2000
    print("stun_parse: %.1f us/request (%d bytes)" % (per_op_us(parse, buf, n, msg, runs), n))
    print("stun_fingerprint_check: %.1f us" % per_op_us(fingerprint, buf, n, msg, runs))
    print("ice_answer_check: %.1f us/check (parse, MI, FP, answer)" % per_op_us(
        answer, agent, buf, n, runs))


main()
