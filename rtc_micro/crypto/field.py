"""Modular inverse for the pure EC back ends (`p256`, `x25519`).

The extended Euclidean algorithm on Python ints: ~0.12 ms for a 256-bit modulus on the Unix port,
against ~0.28 ms for an addition chain of squarings (Fermat) and ~0.36 ms for MicroPython's
3-argument `pow()`. `pow()` also needs MICROPY_PY_BUILTINS_POW3 in the port, and on the Unix port
it sometimes took ~4.5 ms (with a large, partly used heap). `pow(x, -1, m)` returns 0 on
MicroPython: never use it. Variable time, like all of the pure EC code.
"""


def inverse(a, m):
    """a^-1 mod m for 0 < a < m, m prime (0 for a = 0)."""
    x0 = 1
    x1 = 0
    r0 = a
    r1 = m
    while r1:
        q = r0 // r1
        r0, r1 = r1, r0 - q * r1
        x0, x1 = x1, x0 - q * x1
    return x0 % m
