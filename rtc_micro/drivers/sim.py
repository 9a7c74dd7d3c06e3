"""Network simulator for pair tests: an integer virtual clock and lossy links (both runtimes).

Endpoints wrap any sans-I/O machine with the common verbs:
- in: `handle_packet(buf, n, now)` or, when the machine has it, `handle_datagram(buf, n, addr,
  now)`; `handle_timeout(now)`;
- out: `poll_transmit()` -> length `n` (0 when nothing), the datagram in `machine.out_data[:n]`,
  its destination in `machine.out_addr` when the machine is address-aware (else the endpoint's
  `peer`); `poll_timeout()` -> absolute deadline in ticks or None; `poll_event()` -> kind
  (0: none).

`progress(a, b, ...)` advances the shared clock to the soonest delivery or deadline and runs it, as
str0m's tests do. Loss, duplication, reordering, delay and jitter come per direction from a seeded
xorshift PRNG, so a run repeats exactly on both runtimes.
"""

from rtc_micro.compat import ticks_add, ticks_diff


class Link:
    """Impairments of one direction. Percentages are ints 0-100; times in ms."""

    def __init__(self, loss=0, duplicate=0, reorder=0, delay_ms=10, jitter_ms=0):
        self.loss = loss
        self.duplicate = duplicate
        self.reorder = reorder  # chance a packet is held back by an extra delay_ms + jitter
        self.delay_ms = delay_ms
        self.jitter_ms = jitter_ms


class Endpoint:
    """One machine on the simulated network, at `addr`."""

    def __init__(self, net, machine, addr, peer=None):
        self.net = net
        self.machine = machine
        self.addr = addr
        self.peer = peer
        self.events = []  # event kinds drained so far, in order
        self.on_event = None  # callback(endpoint, kind): read details before the next poll
        self.sent = 0
        self.received = 0
        self._addressed = hasattr(machine, "handle_datagram")

    def has_event(self, kind):
        return kind in self.events

    def _deliver(self, data, src, now):
        self.received += 1
        buf = bytearray(data)
        if self._addressed:
            self.machine.handle_datagram(buf, len(buf), src, now)
        else:
            self.machine.handle_packet(buf, len(buf), now)


class Network:
    """Endpoints, links and in-flight datagrams on one virtual clock."""

    def __init__(self, seed=1, now=0, link=None):
        self.now = now
        self.endpoints = []
        self._by_addr = {}
        self._links = {}
        self.default_link = link or Link()
        self._state = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1
        self._flight = []  # [deliver_at, seq, dst_addr, src_addr, bytes], kept sorted
        self._seq = 0
        self.dropped = 0  # lost on a link
        self.unroutable = 0  # sent to an address nobody has
        self.delivered = 0

    def add(self, machine, addr, peer=None):
        """Put `machine` on the network at `addr`; `peer` is where unaddressed output goes."""
        ep = Endpoint(self, machine, addr, peer)
        self.endpoints.append(ep)
        self._by_addr[addr] = ep
        return ep

    def pair(self, a, b, addr_a=("10.0.0.1", 5000), addr_b=("10.0.0.2", 5000)):
        """Two machines that talk to each other: returns their endpoints."""
        return self.add(a, addr_a, addr_b), self.add(b, addr_b, addr_a)

    def link(self, src, dst, **impairments):
        """Set the impairments from endpoint (or address) `src` to `dst`."""
        src = getattr(src, "addr", src)
        dst = getattr(dst, "addr", dst)
        self._links[(src, dst)] = Link(**impairments)

    def impair(self, **impairments):
        """Set the same impairments on every direction not given its own."""
        self.default_link = Link(**impairments)

    def _rand(self, n):
        """A pseudo-random int in [0, n) (xorshift32)."""
        x = self._state
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self._state = x
        return x % n if n > 0 else 0

    def _send(self, ep, data, dst):
        ep.sent += 1
        lk = self._links.get((ep.addr, dst), self.default_link)
        if lk.loss and self._rand(100) < lk.loss:
            self.dropped += 1
            return
        copies = 2 if lk.duplicate and self._rand(100) < lk.duplicate else 1
        for _ in range(copies):
            delay = lk.delay_ms
            if lk.jitter_ms:
                delay += self._rand(lk.jitter_ms + 1)
            if lk.reorder and self._rand(100) < lk.reorder:
                delay += lk.delay_ms + lk.jitter_ms + 1
            self._seq += 1
            entry = [ticks_add(self.now, delay), self._seq, dst, ep.addr, data]
            fl = self._flight
            i = len(fl)
            while i > 0 and ticks_diff(fl[i - 1][0], entry[0]) > 0:
                i -= 1
            fl.insert(i, entry)

    def _drain(self, ep):
        m = ep.machine
        while True:
            n = m.poll_transmit()
            if not n:
                break
            dst = getattr(m, "out_addr", None) if ep._addressed else None
            self._send(ep, bytes(m.out_data[0:n]), dst if dst is not None else ep.peer)
        if hasattr(m, "poll_event"):
            while True:
                kind = m.poll_event()
                if not kind:
                    break
                ep.events.append(kind)
                if ep.on_event:
                    ep.on_event(ep, kind)

    def next_deadline(self, endpoints=None):
        """The soonest delivery or machine deadline, or None when all is quiet."""
        soon = self._flight[0][0] if self._flight else None
        for ep in endpoints or self.endpoints:
            t = ep.machine.poll_timeout()
            if t is not None and (soon is None or ticks_diff(t, soon) < 0):
                soon = t
        return soon

    def step(self, endpoints=None):
        """Drain outputs, advance to the soonest event and run it. False when nothing is left."""
        eps = endpoints or self.endpoints
        for ep in eps:
            self._drain(ep)
        soon = self.next_deadline(eps)
        if soon is None:
            return False
        if ticks_diff(soon, self.now) > 0:
            self.now = soon
        now = self.now
        fl = self._flight
        while fl and ticks_diff(fl[0][0], now) <= 0:
            _at, _seq, dst, src, data = fl.pop(0)
            target = self._by_addr.get(dst)
            if target is None:
                self.unroutable += 1
                continue
            self.delivered += 1
            target._deliver(data, src, now)
            self._drain(target)
        for ep in eps:
            t = ep.machine.poll_timeout()
            if t is not None and ticks_diff(t, now) <= 0:
                ep.machine.handle_timeout(now)
            self._drain(ep)
        return True

    def run(self, until=None, timeout_ms=60000, max_steps=1000000):
        """Step until `until()` is true (returns True), all is quiet or the time is up (False)."""
        end = ticks_add(self.now, timeout_ms)
        for _ in range(max_steps):
            if until is not None and until():
                return True
            if ticks_diff(self.now, end) >= 0:
                return False
            if not self.step():
                return until is not None and until()
        return False

    def advance(self, ms):
        """Run everything due in the next `ms` milliseconds, then set the clock to its end."""
        end = ticks_add(self.now, ms)
        while True:
            soon = self.next_deadline()
            if soon is None or ticks_diff(soon, end) > 0:
                break
            self.step()
        self.now = end
        for ep in self.endpoints:
            self._drain(ep)


def progress(*endpoints):
    """Advance the shared clock of `endpoints` to the soonest delivery or deadline and run it."""
    return endpoints[0].net.step(endpoints)
