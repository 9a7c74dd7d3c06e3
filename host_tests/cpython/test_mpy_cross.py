"""Every module compiles with mpy-cross for the boards' archs (CPython only: runs mpy-cross)."""

import os
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARCHS = ("xtensawin", "armv6m", "rv32imc")


def _modules():
    found = []
    for top in ("rtc_micro", "boards", "examples"):
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for f in files:
                if f.endswith(".py"):
                    found.append(os.path.relpath(os.path.join(dirpath, f), ROOT))
    return sorted(found)


def _mpy_cross():
    exe = shutil.which("mpy-cross") or os.path.join(ROOT, ".venv", "bin", "mpy-cross")
    if not os.path.exists(exe):
        pytest.fail("mpy-cross not installed: run tools/setup")
    return exe


@pytest.mark.parametrize("arch", ARCHS)
def test_every_module_cross_compiles(arch):
    exe = _mpy_cross()
    modules = _modules()
    assert "rtc_micro/compat.py" in modules
    errors = []
    with tempfile.TemporaryDirectory() as out:
        for rel in modules:
            r = subprocess.run(
                [exe, "-march=" + arch, "-msmall-int-bits=31", "-o", os.path.join(out, "m.mpy"),
                 rel],
                cwd=ROOT, capture_output=True, text=True, timeout=60,
            )
            if r.returncode != 0:
                errors.append("%s: %s" % (rel, (r.stderr or r.stdout).strip()))
    assert not errors, "\n".join(errors)


def test_cross_compile_catches_viper_overflow():
    """The lint is real: viper code that does not fit a 32-bit board is rejected."""
    exe = _mpy_cross()
    bad = ("import micropython\n@micropython.viper\ndef f(x: uint) -> uint:\n"
           "    return x ^ 0xFFFFFFFF\n")
    with tempfile.TemporaryDirectory() as out:
        src = os.path.join(out, "bad.py")
        with open(src, "w") as fh:
            fh.write(bad)
        r = subprocess.run([exe, "-march=armv6m", "-msmall-int-bits=31", "-o", src + ".mpy", src],
                           capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
