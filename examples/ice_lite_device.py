"""An ICE-lite device: answers STUN connectivity checks on a UDP port (MicroPython and CPython).

    micropython -X heapsize=110k examples/ice_lite_device.py --port 0 --seconds 20
    python3 examples/ice_lite_device.py --port 3478 --ufrag dev1 --pwd 0123456789abcdef012345

First line printed: `listening HOST PORT ufrag UFRAG pwd PWD` (what a peer's SDP needs). Then one
line per answered check and per event. Datagrams that are not STUN and come from the selected
address are echoed back (a stand-in for DTLS until the peer connection exists). Options:
`--host`, `--port` (0: a free one), `--ufrag`, `--pwd`, `--remote-ufrag`, `--board` (profile,
default esp32), `--count N` (stop after N answered checks), `--seconds N`, `--quiet`.

This file is a driver, not the core: it owns the socket and the clock. MicroPython's Unix port
reports senders as raw sockaddr bytes; `socket.sockaddr(raw)` decodes them to (family, ip, port),
and the agent gets `(ip_bytes, port)`. CPython reports `(ip_text, port)`; the agent takes both.
"""

import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _here + "/..")

import select  # noqa: E402
import socket  # noqa: E402

import boards  # noqa: E402
from rtc_micro import events, stun  # noqa: E402
from rtc_micro.compat import MICROPYTHON, ticks_add, ticks_diff, ticks_ms, urandom  # noqa: E402
from rtc_micro.ice import IceLiteAgent, is_stun  # noqa: E402

_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"  # ice-chars
_EVENT_NAMES = {
    events.ICE_CONNECTED: "ICE_CONNECTED",
    events.ICE_DISCONNECTED: "ICE_DISCONNECTED",
    events.ICE_FAILED: "ICE_FAILED",
    events.ICE_PAIR_CHANGED: "ICE_PAIR_CHANGED",
    events.ICE_CLOSED: "ICE_CLOSED",
}


def random_text(n):
    return "".join(_ALPHABET[b & 63] for b in urandom(n))


def parse_args(argv):
    opts = {
        "host": "127.0.0.1",
        "port": "0",
        "ufrag": None,
        "pwd": None,
        "remote-ufrag": None,
        "board": "esp32",
        "count": "0",
        "seconds": "0",
        "quiet": False,
    }
    i = 0
    while i < len(argv):
        key = argv[i][2:] if argv[i].startswith("--") else None
        if key not in opts:
            raise SystemExit("unknown option %s: see the docstring of %s" % (argv[i], __file__))
        if key == "quiet":
            opts[key] = True
            i += 1
            continue
        if i + 1 >= len(argv):
            raise SystemExit("option %s needs a value" % argv[i])
        opts[key] = argv[i + 1]
        i += 2
    return opts


def addr_text(addr):
    host = addr[0]
    if not isinstance(host, str):
        family = stun.FAMILY_IPV4 if len(host) == 4 else stun.FAMILY_IPV6
        host = stun.ip_text(family, host)
    return "%s:%d" % (host, addr[1])


def bind(host, port):
    """A UDP socket on `host:port`; port 0 picks a free one (the Unix port has no getsockname)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if port:
        sock.bind(socket.getaddrinfo(host, port)[0][-1])
        return sock, port
    for _ in range(50):
        port = 20000 + ((urandom(1)[0] << 8) | urandom(1)[0]) % 40000
        try:
            sock.bind(socket.getaddrinfo(host, port)[0][-1])
            return sock, port
        except OSError:
            pass
    raise SystemExit("no free UDP port found on %s" % host)


def say(text):
    print(text)
    if not MICROPYTHON:
        sys.stdout.flush()


def main(argv):
    o = parse_args(argv)
    profile = boards.load(o["board"])
    ufrag = o["ufrag"] or random_text(8)
    pwd = o["pwd"] or random_text(24)
    agent = IceLiteAgent(profile, ufrag, pwd, o["remote-ufrag"])
    sock, port = bind(o["host"], int(o["port"]))
    say("listening %s %d ufrag %s pwd %s" % (o["host"], port, ufrag, pwd))
    quiet = o["quiet"]
    count = int(o["count"])
    start = ticks_ms()
    end = ticks_add(start, int(float(o["seconds"]) * 1000)) if float(o["seconds"]) > 0 else None
    buf = bytearray(profile.rx_buffer)
    raw_of = {}  # agent address -> what sendto wants (raw sockaddr on the Unix port)
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    echoed = 0
    answered = 0
    try:
        while True:
            now = ticks_ms()
            if end is not None and ticks_diff(end, now) <= 0:
                break
            if count and answered >= count:
                break
            wait = 200
            deadline = agent.poll_timeout()
            if deadline is not None:
                wait = max(0, min(wait, ticks_diff(deadline, now)))
            if poller.poll(wait):
                data, raw = sock.recvfrom(len(buf))
                n = len(data)
                buf[0:n] = data
                if MICROPYTHON:
                    _family, ip, rport = socket.sockaddr(raw)
                    addr = (bytes(ip), rport)
                else:
                    addr = raw[0:2]
                if addr not in raw_of and len(raw_of) < 4 * profile.ice_max_pairs:
                    raw_of[addr] = raw
                now = ticks_ms()
                if is_stun(buf, n):
                    before = agent.counters.responses
                    agent.handle_datagram(buf, n, addr, now)
                    if agent.counters.responses > before:
                        answered += 1
                        if not quiet:
                            say("check %d from %s answered" % (answered, addr_text(addr)))
                elif addr == agent.selected_addr:
                    sock.sendto(data, raw)
                    echoed += 1
                    if not quiet:
                        say("echoed %d bytes to %s" % (n, addr_text(addr)))
            deadline = agent.poll_timeout()
            if deadline is not None and ticks_diff(ticks_ms(), deadline) >= 0:
                agent.handle_timeout(ticks_ms())
            while True:
                m = agent.poll_transmit()
                if not m:
                    break
                dst = raw_of.get(agent.out_addr)
                if dst is not None:
                    sock.sendto(agent.out_data[0:m], dst)
            while True:
                kind = agent.poll_event()
                if not kind:
                    break
                where = addr_text(agent.ev_addr) if agent.ev_addr else "-"
                say("event %s %s: %s" % (_EVENT_NAMES.get(kind, kind), where, agent.ev_reason))
    except KeyboardInterrupt:
        say("interrupted")
    selected = agent.selected_addr
    agent.close(ticks_ms())
    c = agent.counters
    say(
        "done: answered %d checks, %d requests, %d echoed, malformed %d, bad_integrity %d, "
        "unknown_user %d, selected %s"
        % (
            answered,
            c.requests,
            echoed,
            c.malformed,
            c.bad_integrity,
            c.unknown_user,
            addr_text(selected) if selected else "none",
        )
    )
    sock.close()


if __name__ == "__main__":
    main(sys.argv[1:])
