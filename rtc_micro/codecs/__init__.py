"""Media codecs and RTP payload formats: g711, opus (RFC 7587 + Ogg), h264, vp8, ivf.

Plain functions over (buffer, offset, length) and small packetizer classes that write into
caller buffers. `copy_into` is the allocation-free byte copy they share.
"""

from rtc_micro.memory import copy_into  # noqa: F401  (the codecs' shared byte copy)
