"""End to end: headless Chromium loads the device's own page, echoes on a data channel, and
plays the device's audio and video.

Issue 8 item 6(b); issue 7 item 7 (Chromium plays the device's audio, device on MicroPython). The device (examples/device.py) runs on the MicroPython Unix port (Pico W
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
         "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required"]

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


def _inbound(page):
    return page.evaluate("rtcInbound()")


@pytest.mark.parametrize("board,video", [("picow", False), ("esp32s3", True)])
def test_chromium_plays_the_devices_media(browser, board, video, mpy_dir):
    """Device on MicroPython: audio on the Pico W budget (a board without video), audio and
    H.264 video on the esp32s3's. Inbound packets rise, samples are decoded, not concealed."""
    dev = DeviceProcess("micropython", mpy_dir, free_port(), board).start()
    page = browser.new_page()
    try:
        page.goto("http://127.0.0.1:%d/" % dev.port)
        page.evaluate("rtcConnect({audio: true, video: %s})" % ("true" if video else "false"))
        page.wait_for_function("rtcState() == 'connected'", timeout=15000)
        first = _inbound(page)
        for _ in range(50):  # until 25 audio packets are in (getStats() is asynchronous)
            if first.get("audio", {}).get("packetsReceived", 0) > 25:
                break
            page.wait_for_timeout(200)
            first = _inbound(page)
        page.wait_for_timeout(1500)
        last = _inbound(page)
        a0, a1 = first["audio"], last["audio"]
        assert a1["packetsReceived"] - a0["packetsReceived"] >= 50  # 20 ms packets: ~75
        assert a1["totalSamplesReceived"] > a0["totalSamplesReceived"]
        assert a1["concealedSamples"] <= 0.1 * a1["totalSamplesReceived"]  # decoded, not hidden
        assert a1["audioLevel"] > 0.05  # the tone, not silence
        if video:
            v0, v1 = first["video"], last["video"]
            assert v1["framesDecoded"] - v0["framesDecoded"] >= 15  # the clip is 15 frames/s
            assert v1["keyFramesDecoded"] >= 1 and v1["frameWidth"] == 320
        else:
            assert "video" not in last
    finally:
        page.close()
        dev.stop()
