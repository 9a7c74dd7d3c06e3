"""An rtc_micro client: connects to a WHEP device (examples/device.py) without aiortc or a browser.

    micropython examples/rtc_client.py http://127.0.0.1:8080 [--local ADDR] [--udp-port N]
                                       [--messages 5] [--board unix]
    python3 examples/rtc_client.py ...

The same file runs on MicroPython and CPython (a device can connect to another device). The
client is the offerer and a full ICE agent in the controlling role (the device is ICE-lite and
sends no checks); the device answers `a=setup:active`, so the client is the DTLS server. It
opens an `echo` channel, echoes messages and ends the session with `DELETE`, printing a line
per step: `connected: offer -> channel open in N ms`, `echo I: N bytes ok`, `DELETE ... -> 200`.
`--local` is the address the client binds and offers (default 127.0.0.1 for a loopback device,
else 0.0.0.0: the device is ICE-lite and learns the client's address from its checks);
`--board` the profile that sizes the client's buffers (`unix` needs ~1.5 MB of heap).
"""

import sys

_here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.append(_here + "/..")  # after MICROPYPATH: precompiled modules win

import asyncio  # noqa: E402

import boards  # noqa: E402
from rtc_micro import events  # noqa: E402
from rtc_micro.compat import ticks_add, ticks_diff, ticks_ms  # noqa: E402
from rtc_micro.crypto import x509  # noqa: E402
from rtc_micro.drivers.aio import Driver  # noqa: E402
from rtc_micro.peer import PeerConnection  # noqa: E402
from rtc_micro.signaling import whep  # noqa: E402


class Client:
    """One session with a WHEP endpoint: a PeerConnection (the offerer) on an asyncio driver
    bound to `local_host:udp_port`. `opened` and `inbox` fill from the driver's events."""

    def __init__(self, profile, certificate, local_host, udp_port):
        self.pc = PeerConnection(profile, certificate, local_host, udp_port)
        self.driver = None
        self.local = (local_host, udp_port)
        self.location = None
        self.opened = []  # labels of open channels, in order
        self.inbox = []  # (label, message): str for text, bytes for binary
        self.states = []  # (state, reason)
        self.changed = asyncio.Event()  # set on every event the application may wait for
        self.task = None

    def on_event(self, pc, kind):
        """Runs inside the driver's drain: copy what is kept (views die at the next poll)."""
        if kind == events.CHANNEL_OPEN:
            self.opened.append(pc.out_channel.label)
        elif kind == events.CHANNEL_MESSAGE:
            data = bytes(pc.out_data)
            self.inbox.append((pc.out_channel.label, data if pc.out_binary else data.decode()))
        elif kind == events.CONNECTION_STATE:
            self.states.append((pc.ev_state, pc.ev_reason))
        else:
            return
        self.changed.set()

    async def connect(self, host, port, labels=("echo",), path="/whep"):
        """POST our offer, apply the answer, open channels `labels`; returns at once (wait with
        `wait_open`). HttpError when the endpoint refuses the offer."""
        offer = self.pc.create_offer()
        self.location, answer = await whep.post_offer(host, port, offer, path)
        self.driver = Driver(self.pc, self.local[0], self.local[1],
                             self.pc.profile.rx_buffer, self.on_event)
        now = ticks_ms()
        self.pc.set_remote_description(answer, "answer", now)
        channels = [self.pc.create_data_channel(label) for label in labels]
        self.task = asyncio.create_task(self.driver.run())
        self.driver.flush()  # the first ICE check leaves now, not at the driver's first turn
        return channels

    async def wait(self, predicate, timeout_ms):
        """Until `predicate()` holds (True) or `timeout_ms` passes (False)."""
        end = ticks_add(ticks_ms(), timeout_ms)
        while not predicate():
            left = ticks_diff(end, ticks_ms())
            if left <= 0 or self.pc.state == "failed":
                return False
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), left / 1000)
            except asyncio.TimeoutError:
                pass
        return True

    def send(self, channel, data):
        ok = self.pc.send(channel, data, ticks_ms())
        self.driver.flush()
        return ok

    async def close(self, host, port):
        """DELETE the session (its HTTP status), close the connection, stop the driver."""
        status = (await whep.request(host, port, "DELETE", self.location))[0]
        self.pc.close(ticks_ms())
        self.driver.flush()
        self.driver.stop()
        await self.task
        return status


async def session(host, port, local_host, udp_port, messages=5, profile=None, certificate=None):
    """Connect, echo `messages` messages on an `echo` channel, DELETE. Returns report lines."""
    profile = profile or boards.load("unix")
    certificate = certificate or x509.Certificate.generate("rtc_micro client")
    c = Client(profile, certificate, local_host, udp_port)
    t0 = ticks_ms()
    (echo,) = await c.connect(host, port)
    if not await c.wait(lambda: "echo" in c.opened, 10000):
        raise AssertionError("no channel open: %r" % (c.states,))
    report = ["connected: offer -> channel open in %d ms" % ticks_diff(ticks_ms(), t0)]
    for i in range(messages):
        msg = "hello device %d" % i if i % 2 == 0 else bytes(range(i * 10 % 256)) * 4
        c.send(echo, msg)
        if not await c.wait(lambda: len(c.inbox) > i, 5000):
            raise AssertionError("echo %d not answered" % i)
        back = c.inbox[i][1]
        report.append("echo %d: %d %s %s" % (i, len(msg), "chars" if isinstance(msg, str)
                                             else "bytes", "ok" if back == msg else "MISMATCH"))
    report.append("DELETE %s -> %d" % (c.location, await c.close(host, port)))
    return report


def main(argv):
    if not argv or not argv[0].startswith("http://"):
        raise SystemExit("usage: rtc_client.py http://HOST:PORT [--local ADDR] [--udp-port N] "
                         "[--messages N] [--board NAME]")
    hostport = argv[0][7:].split("/")[0]
    host, port = hostport.split(":") if ":" in hostport else (hostport, "80")
    opts = {"--udp-port": "0", "--messages": "5", "--board": "unix",
            "--local": "127.0.0.1" if host.startswith("127.") else "0.0.0.0"}
    for i in range(1, len(argv) - 1, 2):
        opts[argv[i]] = argv[i + 1]
    udp_port = int(opts["--udp-port"]) or 40000 + ticks_ms() % 20000
    for line in asyncio.run(session(host, int(port), opts["--local"], udp_port,
                                    int(opts["--messages"]), boards.load(opts["--board"]))):
        print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
