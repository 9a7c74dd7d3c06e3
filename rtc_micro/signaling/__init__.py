"""Signaling: how an offer reaches the device and its answer goes back.

`whep.py` is a tiny HTTP/1.1 server on asyncio (the same code on MicroPython and CPython) that
serves the device's page and WHEP-style signaling (RFC 9725 conventions). It is the one place
besides `drivers/` that opens sockets. See docs/memory.md for why it is ours and not Microdot.
"""
