"""MicroPython Unix port and CPython hosts: the defaults, no tight limits."""

from boards import Profile

PROFILE = Profile("unix")
