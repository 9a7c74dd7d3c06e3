"""Make the sample media the examples ship (CPython + PyAV only; run from the repository root).

    .venv/bin/python tools/make_media.py

examples/media/tone440.opus  2 s of a 440 Hz sine, mono, Opus 20 ms frames in Ogg (RFC 7845),
                             pages of 100 ms (< 1 KB)
examples/media/pattern.h264  2 s of a moving 320x240 pattern, H.264 constrained baseline
                             (profile-level-id 42e01f), Annex-B, a keyframe every second
Both stay far below 200 KB so that they fit a board's flash next to the firmware.
"""

import math
import os
import sys

import av

OUT = os.path.join("examples", "media")
SECONDS = 2
TONE_HZ = 440
RATE = 48000
FRAME = 960  # 20 ms at 48 kHz
WIDTH, HEIGHT, FPS = 320, 240, 15


def make_tone(path):
    # 100 ms pages (FFmpeg's default is 1 s, ~5 KB): a board's Ogg reader holds one page.
    out = av.open(path, "w", format="ogg", options={"page_duration": "100000"})
    st = out.add_stream("libopus", rate=RATE)
    st.layout = "mono"
    st.bit_rate = 32000
    st.codec_context.options = {"frame_duration": "20", "application": "audio"}
    pts = 0
    for _ in range(SECONDS * RATE // FRAME):
        samples = bytearray(2 * FRAME)
        for i in range(FRAME):
            v = int(12000 * math.sin(2 * math.pi * TONE_HZ * (pts + i) / RATE))
            samples[2 * i] = v & 255
            samples[2 * i + 1] = (v >> 8) & 255
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(bytes(samples))
        frame.sample_rate = RATE
        frame.pts = pts
        pts += FRAME
        for pkt in st.encode(frame):
            out.mux(pkt)
    for pkt in st.encode(None):
        out.mux(pkt)
    out.close()


def make_video(path):
    out = av.open(path, "w", format="h264")
    st = out.add_stream("libx264", rate=FPS)
    st.width = WIDTH
    st.height = HEIGHT
    st.pix_fmt = "yuv420p"
    st.bit_rate = 250000
    st.codec_context.options = {
        "profile": "baseline", "level": "3.1", "tune": "zerolatency", "preset": "veryfast",
        "g": str(FPS), "bf": "0", "x264-params": "repeat-headers=1",
    }
    for n in range(SECONDS * FPS):
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        y = bytearray(WIDTH * HEIGHT)
        for row in range(HEIGHT):
            for col in range(WIDTH):
                y[row * WIDTH + col] = ((col + 4 * n) ^ (row + 2 * n)) & 255
        frame.planes[0].update(bytes(y))
        frame.planes[1].update(bytes([(64 + 8 * n) & 255]) * (WIDTH * HEIGHT // 4))
        frame.planes[2].update(bytes([(192 - 4 * n) & 255]) * (WIDTH * HEIGHT // 4))
        frame.pts = n
        for pkt in st.encode(frame):
            out.mux(pkt)
    for pkt in st.encode(None):
        out.mux(pkt)
    out.close()


def main():
    os.makedirs(OUT, exist_ok=True)
    tone = os.path.join(OUT, "tone440.opus")
    video = os.path.join(OUT, "pattern.h264")
    make_tone(tone)
    make_video(video)
    for p in (tone, video):
        size = os.path.getsize(p)
        print("%s: %d bytes" % (p, size))
        if size >= 200 * 1024:
            sys.exit("%s is too large for a board" % p)


if __name__ == "__main__":
    main()
