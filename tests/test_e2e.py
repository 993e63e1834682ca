"""End-to-end: a real server process, Debian's Chromium driven by Playwright through
upload, live progress and download. Run with ``pytest -m e2e`` (CI does)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("PAINTERLY_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT_DIR = Path(os.environ.get("PAINTERLY_SCREENSHOTS", Path(__file__).resolve().parents[1] / "out"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "painterly", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/api/styles", timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail(f"server did not start: {proc.stdout.read() if proc.stdout else ''}")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


def test_upload_progress_download_in_chromium(server: str, shared_data: Path, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium (CI installs it)")
    from playwright.sync_api import expect, sync_playwright

    photo = tmp_path / "photo.jpg"
    from PIL import Image

    Image.open(shared_data / "faces" / "obama.jpg").convert("RGB").resize((182, 227)).save(photo)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # the page runs under the server's Content-Security-Policy: nothing of it may be blocked
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(server)
        page.wait_for_selector("#styles button")  # built-in styles loaded from the API
        assert page.locator("#styles button").count() >= 4
        page.set_input_files("#content", str(photo))
        page.locator("#styles button").nth(1).click()
        page.fill("#size", "128")
        page.dispatch_event("#size", "input")
        page.click("#go")
        # (locator waits, not wait_for_function: a string evaluated in the page is what the CSP forbids)
        expect(page.locator("#status")).to_have_text(re.compile(r"^step"), timeout=120_000)
        page.wait_for_selector("#download:not([hidden])", timeout=180_000)
        assert page.locator("#status").text_content() == "done"
        assert "Identity distance" in (page.locator("#identity").text_content() or "")
        with page.expect_download() as info:
            page.click("#download")
        target = tmp_path / "download.png"
        info.value.save_as(target)
        assert Image.open(target).size == (103, 128)
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT_DIR / "e2e_page.png"), full_page=True)
        # the quick preview: one forward pass through the bundled network for this style
        page.click("#quick")
        expect(page.locator("#status")).to_have_text("quick preview done", timeout=60_000)
        with page.expect_download() as info:
            page.click("#download")
        info.value.save_as(tmp_path / "quick.png")
        assert Image.open(tmp_path / "quick.png").size == (103, 128)
        # a clip: the quick preview sends it to /api/fast/video and shows the mp4 in a <video>
        import numpy as np

        from painterly.image.video import probe_video, write_video

        clip = tmp_path / "clip.mp4"
        base = np.asarray(Image.open(photo).convert("RGB").resize((96, 120)))
        write_video(clip, (np.roll(base, 2 * t, axis=1) for t in range(10)), fps=10.0)
        page.set_input_files("#content", str(clip))
        page.click("#quick")
        expect(page.locator("#status")).to_have_text("quick preview done", timeout=120_000)
        assert page.locator("#clip").is_visible()
        with page.expect_download() as info:
            page.click("#download")
        info.value.save_as(tmp_path / "clip_out.mp4")
        assert probe_video(tmp_path / "clip_out.mp4").size == (102, 128)  # at the page's size, 128 px
        # a bad upload shows a readable error, not a crash
        (tmp_path / "bad.jpg").write_text("not an image")
        page.set_input_files("#content", str(tmp_path / "bad.jpg"))
        page.click("#go")
        page.wait_for_selector("#error:not([hidden])")
        assert "not an image" in (page.locator("#error").text_content() or "")
        assert errors == []
        browser.close()
