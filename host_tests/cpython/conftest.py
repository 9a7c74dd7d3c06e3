import pytest

from host_tests.cpython import mpy_tree


@pytest.fixture(scope="session")
def mpy_dir(tmp_path_factory):
    """rtc_micro and boards precompiled for the MicroPython Unix port (x64), once per run."""
    return mpy_tree.build(str(tmp_path_factory.mktemp("mpy")))
