"""End to end: headless Chromium loads the device's own page and echoes on a data channel.

Issue 8 item 6(b). The device (examples/device.py) runs on the MicroPython Unix port (Pico W
profile; its heap as in test_e2e_aiortc.py: the board's budget plus bytecode) and on CPython.
Chromium is Debian's /usr/bin/chromium,
driven by Playwright (never a browser download); flags from docs/interop.md.
"""

import os

import pytest

from host_tests.cpython.test_e2e_aiortc import DeviceProcess, free_port

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-loopback-in-peer-connection"]

playwright_sync = pytest.importorskip("playwright.sync_api")



@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip("no %s (tools/setup installs Debian's chromium)" % CHROMIUM)
    # Playwright gives the browser a fresh temporary profile of its own.
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_chromium_page_connects_and_echoes(browser, runtime, request):
    mpy = request.getfixturevalue("mpy_dir") if runtime == "micropython" else None
    dev = DeviceProcess(runtime, mpy, free_port()).start()
    page = browser.new_page()
    try:
        page.goto("http://127.0.0.1:%d/" % dev.port)
        page.evaluate("rtcConnect()")
        page.wait_for_function("rtcState() == 'connected'", timeout=15000)
        page.wait_for_function("document.getElementById('send').disabled == false",
                               timeout=10000)
        page.evaluate("rtcSend('hello from chromium')")
        page.wait_for_function("rtcEchoes.length > 0", timeout=10000)
        assert page.evaluate("rtcEchoes[0]") == "hello from chromium"
        page.wait_for_function("rtcTelemetry.length > 0", timeout=5000)
        assert '"uptime_ms"' in page.evaluate("rtcTelemetry[0]")
        assert page.inner_text("#state") == "connected"
    finally:
        page.close()
        dev.stop()
