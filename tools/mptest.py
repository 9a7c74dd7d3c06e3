"""MicroPython test runner: imports host_tests modules, runs their test_* functions.

Usage: micropython -X heapsize=110k tools/mptest.py [--mpy] [-k PATTERN] host_tests/test_x.py ...
--mpy: import the modules precompiled by tools/build_mpy (build/mpy) before source, as frozen
modules are on a board (no compiler heap spent at import).
Last line: `N passed, N failed, N skipped`; exit status 1 on any failure.
"""

import gc
import sys

sys.path.insert(0, ".")
if "--mpy" in sys.argv:
    # Before any host_tests import: a package found in source pins its submodules to source.
    sys.path.insert(0, "build/mpy")

from host_tests.support import Skip  # noqa: E402


def _module_name(path):
    if path.endswith(".py"):
        path = path[:-3]
    return path.replace("/", ".")


def run(paths, only=None):
    passed = failed = skipped = 0
    for path in paths:
        name = _module_name(path)
        try:
            mod = __import__(name, None, None, ("__name__",))
        except Skip as e:
            print("SKIP %s: %s" % (name, e))
            skipped += 1
            continue
        except Exception as e:
            print("FAIL %s: import: %s: %s" % (name, type(e).__name__, e))
            sys.print_exception(e)
            failed += 1
            continue
        names = sorted(k for k in dir(mod) if k.startswith("test_"))
        for test in names:
            if only and only not in test:
                continue
            gc.collect()
            try:
                getattr(mod, test)()
            except Skip as e:
                print("skip %s.%s: %s" % (name, test, e))
                skipped += 1
            except Exception as e:
                print("FAIL %s.%s: %s: %s" % (name, test, type(e).__name__, e))
                sys.print_exception(e)
                failed += 1
            else:
                passed += 1
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    return failed


def main():
    args = sys.argv[1:]
    only = None
    if args and args[0] == "--mpy":
        args = args[1:]
    if len(args) >= 2 and args[0] == "-k":
        only = args[1]
        args = args[2:]
    if run(args, only):
        sys.exit(1)


main()
