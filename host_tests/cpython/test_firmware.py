"""firmware/manifest.py freezes every library module, and tools/deploy builds for each board."""

import os
import subprocess

import boards

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_manifest_packages_cover_every_module():
    packages = []
    env = {
        "include": lambda path: None,
        "package": lambda name, base_path=".", opt=None, files=None: packages.append(
            (name, base_path)
        ),
        "module": lambda *a, **k: None,
        "require": lambda *a, **k: None,
    }
    path = os.path.join(ROOT, "firmware", "manifest.py")
    with open(path) as fh:
        exec(compile(fh.read(), path, "exec"), env)
    frozen = set()
    for name, base in packages:
        top = os.path.normpath(os.path.join(ROOT, "firmware", base, name))
        assert os.path.isdir(top), top
        for dirpath, _dirs, files in os.walk(top):
            for f in files:
                if f.endswith(".py"):
                    frozen.add(os.path.relpath(os.path.join(dirpath, f), ROOT))
    assert "rtc_micro/compat.py" in frozen and "boards/esp32.py" in frozen
    for dirpath, _dirs, files in os.walk(os.path.join(ROOT, "rtc_micro")):
        for f in files:
            if f.endswith(".py"):
                assert os.path.relpath(os.path.join(dirpath, f), ROOT) in frozen


def test_deploy_dry_run_builds_for_the_board_arch():
    r = subprocess.run(
        ["tools/deploy", "--board", "picow", "--dry-run"], cwd=ROOT, capture_output=True,
        text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "(armv6m)" in r.stdout and "+ mpremote connect auto fs cp -r" in r.stdout
    mpy = os.path.join(ROOT, "build", "deploy-picow", "lib", "rtc_micro", "compat.mpy")
    with open(mpy, "rb") as fh:
        head = fh.read(4)
    assert head[0] == ord("M")  # an .mpy file
    assert boards.load("picow").mpy_arch == "armv6m"
