"""Helpers for CPython tests that run rtc_micro on the MicroPython Unix port in a subprocess.

`build(out_dir)` precompiles rtc_micro/ and boards/ with mpy-cross (x64), as a board runs them
frozen: importing from source would spend tens of KB of a 110 KB heap on the compiler.
"""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MICROPYTHON = os.path.join(ROOT, ".venv", "bin", "micropython")
MPY_CROSS = os.path.join(ROOT, ".venv", "bin", "mpy-cross")


def build(out_dir):
    """Compile rtc_micro/ and boards/ into `out_dir`; returns it. Files that do not compile
    are left out (their importers then fail loudly)."""
    for top in ("rtc_micro", "boards"):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, top)):
            rel = os.path.relpath(dirpath, ROOT)
            os.makedirs(os.path.join(out_dir, rel), exist_ok=True)
            for f in files:
                if f.endswith(".py"):
                    subprocess.run([MPY_CROSS, "-march=x64", "-o",
                                    os.path.join(out_dir, rel, f[:-3] + ".mpy"),
                                    os.path.join(rel, f)], cwd=ROOT, capture_output=True)
    return out_dir


def prelude(mpy_dir):
    """Source lines that put `mpy_dir` (precompiled) then the repository on sys.path."""
    return "import sys\nsys.path.insert(0, %r)\nsys.path.insert(0, %r)\n" % (ROOT, mpy_dir)


def free_port(kind=None):
    """A port on 127.0.0.1 nobody uses: TCP by default (the device takes the same number for
    UDP), UDP with `kind=socket.SOCK_DGRAM`."""
    import socket

    s = socket.socket(socket.AF_INET, kind or socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
