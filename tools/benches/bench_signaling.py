"""Heap cost of the signaling path (MicroPython figures matter; CPython prints n/a).

Prints: heap taken by importing the WHEP server (+ sdp), and the transient peak of answering
Chromium's data-channel offer and its 7 KB audio+video offer through `WhepServer.dispatch`.
"""

import gc
import sys

sys.path.append(".")

import boards  # noqa: E402
from rtc_micro import compat, errors  # noqa: E402, F401  (shared by every rtc_micro module)

_MP = compat.MICROPYTHON


def _used():
    gc.collect()
    return gc.mem_alloc() if _MP else 0


def _fixture(name):
    with open("host_tests/fixtures/" + name, "rb") as f:
        return f.read()


def _microdot():
    """Microdot 2.x with CORS, from the .venv's site-packages (source), for docs/memory.md."""
    import os

    try:
        for v in os.listdir(".venv/lib"):
            sys.path.append(".venv/lib/%s/site-packages" % v)
        before = _used()
        from microdot import Microdot
        from microdot.cors import CORS
    except ImportError:
        print("microdot import heap: n/a (not installed)")
        return
    app = Microdot()
    CORS(app, allowed_origins="*", expose_headers=["Location"])

    @app.post("/whep")
    async def offer(request):
        return "", 201

    @app.delete("/whep/<sid>")
    async def delete(request, sid):
        return "", 200

    print("microdot+cors import heap (from source): %d bytes" % (_used() - before))


def _ms():
    import time

    return time.ticks_ms() if _MP else int(time.perf_counter() * 1000)


def main():
    if not _MP:
        print("signaling heap: n/a on CPython")
        return
    base = _used()
    import asyncio  # noqa: F401  (frozen in the firmware; needed by any asyncio device)

    a = _used()
    from rtc_micro import sdp

    b = _used()
    from rtc_micro.signaling import whep

    c = _used()
    print("asyncio import heap: %d bytes" % (a - base))
    print("sdp import heap: %d bytes" % (b - a))
    print("whep server import heap: %d bytes" % (c - b))
    profile = boards.load("esp32")
    local = sdp.LocalTransport("devU", "0123456789abcdefghijkl", ":".join(["AB"] * 32),
                               "192.168.4.1", 5000, max_message_size=profile.max_message_size)

    def on_offer(text):
        return "s1", sdp.create_answer(sdp.parse(text), local)

    server = whep.WhepServer(profile, on_offer, None)
    _microdot()
    for name in ("chromium-156-offer-datachannel.sdp",
                 "chromium-156-offer-datachannel-audio-video.sdp"):
        req = whep.Request("POST", "/whep", {"content-type": "application/sdp"})
        req.body = _fixture(name)
        t0 = _ms()
        out = server.dispatch(req)
        print("answer %s: %d ms, %d bytes out, free heap after %d bytes"
              % (name.split(".")[0], _ms() - t0, len(out), gc.mem_free()))


main()
