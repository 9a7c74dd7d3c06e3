"""rtc_micro: a sans-I/O WebRTC stack for MicroPython and CPython."""

__version__ = "0.1.0"

from rtc_micro import compat  # noqa: F401  (installs the `micropython` stand-in on CPython)
