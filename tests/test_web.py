from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

from painterly.events import ProgressEvent
from painterly.web.app import ServerSettings, create_app
from painterly.web.jobs import JobManager


def _png(w: int = 48, h: int = 40) -> bytes:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


class _Gate:
    """A fake job body that waits until released, reporting progress meanwhile."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def __call__(self, job: Any, job_dir: Path, on_progress: Any) -> None:
        for step in range(1, 1000):
            on_progress(ProgressEvent(step=step, total_steps=1000, losses={"total": 1.0 / step},
                                      current=torch.ones(1, 3, 32, 32)))
            if self.release.wait(0.01):
                break
        if job.options.get("style_weight") == 13.0:
            raise RuntimeError("boom")
        Image.new("RGB", (8, 8), "blue").save(job_dir / "result.png")


@pytest.fixture
def gated(tmp_path: Path):
    gate = _Gate()
    settings = ServerSettings(rate_per_minute=0, data_dir=tmp_path / "data", queue_size=2, max_upload_bytes=200_000,
                              max_pixels=500_000, max_size=512)
    manager = JobManager(settings.data_dir, concurrency=1, queue_size=2, runner=gate)
    with TestClient(create_app(settings, manager)) as client:
        yield client, gate, manager


def _submit(client: TestClient, **form: Any):
    files = {"content": ("c.png", _png(), "image/png")}
    data = {"style_name": "starry_night", "size": "64", **{k: str(v) for k, v in form.items()}}
    return client.post("/api/jobs", files=files, data=data)


def _wait(client: TestClient, job_id: str, states=("done", "failed", "cancelled"), timeout: float = 30) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        body = client.get(f"/api/jobs/{job_id}").json()
        if body["state"] in states:
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} stuck in {body['state']}")


def test_page_styles_and_openapi(gated) -> None:
    client, _, _ = gated
    page = client.get("/")
    assert page.status_code == 200 and "painterly" in page.text and "/static/app.js" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/..%2Fapp.py").status_code == 404
    styles = client.get("/api/styles").json()
    assert {"starry_night", "the_scream"} <= {s["name"] for s in styles}
    assert client.get(styles[0]["url"]).headers["content-type"] == "image/jpeg"
    assert client.get("/api/styles/nope.jpg").status_code == 404
    assert "/api/jobs" in client.get("/openapi.json").json()["paths"]


def test_job_lifecycle_status_events_result(gated) -> None:
    client, gate, _ = gated
    res = _submit(client)
    assert res.status_code == 202 and res.headers["location"] == f"/api/jobs/{res.json()['id']}"
    job_id = res.json()["id"]
    assert len(job_id) >= 16  # random, unguessable
    _wait(client, job_id, ("running",))
    assert client.get(f"/api/jobs/{job_id}/result").status_code == 409  # not done yet
    gate.release.set()
    with client.stream("GET", f"/api/jobs/{job_id}/events") as stream:
        text = "".join(stream.iter_text())
    assert "event: end" in text and '"state": "done"' in text
    res = client.get(f"/api/jobs/{job_id}/result")
    assert res.status_code == 200 and res.headers["content-type"] == "image/png"
    assert client.get("/api/jobs/unknown").status_code == 404


def test_queue_full_gives_429_and_cancel_works(gated) -> None:
    client, gate, _ = gated
    first, second = _submit(client).json()["id"], _submit(client).json()["id"]
    assert _submit(client).status_code == 429
    assert client.post(f"/api/jobs/{second}/cancel").json()["state"] == "cancelled"
    running = _wait(client, first, ("running",))
    assert running["progress"]["step"] >= 0
    client.post(f"/api/jobs/{first}/cancel")
    assert _wait(client, first)["state"] == "cancelled"
    assert client.post("/api/jobs/nope/cancel").status_code == 404
    gate.release.set()


def test_crashing_job_fails_with_reason(gated) -> None:
    client, gate, _ = gated
    gate.release.set()
    job = _wait(client, _submit(client, style_weight=13.0).json()["id"])
    assert job["state"] == "failed" and "boom" in job["error"]


def test_validation_400_and_413(gated) -> None:
    client, _, _ = gated
    bad = client.post("/api/jobs", files={"content": ("c.png", b"not an image", "image/png")},
                      data={"style_name": "starry_night"})
    assert bad.status_code == 400 and "not an image" in bad.json()["detail"]
    assert _submit(client, style_name="nope").status_code == 400
    assert client.post("/api/jobs", files={"content": ("c.png", _png(), "image/png")}).status_code == 400
    assert _submit(client, original_colors="purple").status_code == 400
    assert _submit(client, preset="watercolour").status_code == 400
    res = _submit(client, face_paint="1.5")  # the schema's range is 0..1
    assert res.status_code == 400 and "face_paint" in res.json()["detail"]
    assert _submit(client, size=4096).status_code == 413
    assert _submit(client, size=10).status_code == 400  # below the schema's minimum: 400, as the README says
    huge = io.BytesIO()
    Image.new("RGB", (800, 800)).save(huge, format="PNG")  # 640k pixels > 500k limit
    res = client.post("/api/jobs", files={"content": ("c.png", huge.getvalue(), "image/png")},
                      data={"style_name": "starry_night"})
    assert res.status_code == 413 and "pixel" in res.json()["detail"]
    big = io.BytesIO()
    Image.fromarray((np.random.default_rng(1).random((300, 300, 3)) * 255).astype(np.uint8)).save(big, format="PNG")
    res = client.post("/api/jobs", files={"content": ("c.png", big.getvalue(), "image/png")},
                      data={"style_name": "starry_night"})
    assert res.status_code == 413 and "MB" in res.json()["detail"]


def test_restart_keeps_results_and_fails_interrupted(tmp_path: Path) -> None:
    gate = _Gate()
    settings = ServerSettings(rate_per_minute=0, data_dir=tmp_path / "d", queue_size=4)
    manager = JobManager(settings.data_dir, runner=gate)
    with TestClient(create_app(settings, manager)) as client:
        gate.release.set()
        done = _wait(client, _submit(client).json()["id"])["id"]
        gate.release.clear()
        running = _submit(client).json()["id"]
        _wait(client, running, ("running",))
    gate.release.set()
    manager2 = JobManager(settings.data_dir, runner=gate)
    with TestClient(create_app(settings, manager2)) as client:
        assert client.get(f"/api/jobs/{done}/result").status_code == 200
        body = client.get(f"/api/jobs/{running}").json()
        assert body["state"] == "failed" and "server stopped" in body["error"]


def test_old_results_are_removed(tmp_path: Path) -> None:
    gate = _Gate()
    gate.release.set()
    manager = JobManager(tmp_path / "d", runner=gate, retention_s=60)
    with TestClient(create_app(ServerSettings(rate_per_minute=0, data_dir=tmp_path / "d"), manager)) as client:
        job_id = _wait(client, _submit(client).json()["id"])["id"]
        assert manager.clean(now=time.time() + 30) == []
        assert manager.clean(now=time.time() + 120) == [job_id]
        assert client.get(f"/api/jobs/{job_id}").status_code == 404
        assert not (tmp_path / "d" / "jobs" / job_id).exists()


def test_real_job_and_face_endpoint(tmp_path: Path, shared_data: Path) -> None:
    settings = ServerSettings(rate_per_minute=0, data_dir=tmp_path / "real")
    with TestClient(create_app(settings)) as client:
        files = {"content": ("c.png", _png(64, 48), "image/png")}
        res = client.post("/api/jobs", files=files, data={"style_name": "the_scream", "size": "64",
                                                          "iterations": "4"})
        assert res.status_code == 202, res.text
        job = _wait(client, res.json()["id"], timeout=120)
        assert job["state"] == "done", job
        assert job["losses"]["total"] > 0
        img = Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/result").content))
        assert img.size == (64, 48)
        record = client.get(f"/api/jobs/{job['id']}/record").json()  # the CLI's OUT.json, built by one function
        assert record["config"]["size"] == 64 and record["final_losses"] == job["losses"]
        assert record["backbone"]["name"] and record["steps"] > 0
        sketch = client.post("/api/jobs", files={"content": ("c.png", _png(64, 48), "image/png")},
                             data={"preset": "sketch", "size": "64"})  # no style needed
        assert sketch.status_code == 202, sketch.text
        job = _wait(client, sketch.json()["id"], timeout=60)
        assert job["state"] == "done", job
        grey = np.asarray(Image.open(io.BytesIO(client.get(f"/api/jobs/{job['id']}/result").content)).convert("RGB"))
        assert grey.shape == (48, 64, 3) and (grey[..., 0] == grey[..., 2]).all()
        faces = client.post("/api/faces", files={"image": ("t.jpg", (shared_data / "faces" / "two_people.jpg")
                                                           .read_bytes(), "image/jpeg")})
        assert faces.status_code == 200 and len(faces.json()["faces"]) == 2


def test_fast_endpoint_returns_a_png(tmp_path: Path) -> None:
    app = create_app(ServerSettings(rate_per_minute=0, data_dir=tmp_path, device="cpu", max_size=64))
    with TestClient(app) as client:
        names = {m["name"] for m in client.get("/api/fast/models").json()}
        assert {"starry_night", "adain"} <= names
        r = client.post("/api/fast", files={"content": ("c.png", _png(96, 80), "image/png")},
                        data={"model": "starry_night", "face_pass": "false"})
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(r.content)).size == (64, 53)  # capped at the server's max_size
        r = client.post("/api/fast", files={"content": ("c.png", _png(), "image/png"),
                                            "style": ("s.png", _png(40, 40), "image/png")}, data={"alpha": "0.5"})
        assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (48, 40)
        for form in ({"method": "wct"}, {"photo": "true"}):  # universal WCT; photorealistic (WCT + guided filter)
            r = client.post("/api/fast", files={"content": ("c.png", _png(), "image/png"),
                                                "style": ("s.png", _png(40, 40), "image/png")}, data=form)
            assert r.status_code == 200 and Image.open(io.BytesIO(r.content)).size == (48, 40), r.text
        r = client.post("/api/fast", files={"content": ("c.png", _png(), "image/png"),
                                            "style": ("s.png", _png(40, 40), "image/png")}, data={"method": "x"})
        assert r.status_code == 400 and "unknown method" in r.json()["detail"]
        r = client.post("/api/fast", files={"content": ("c.png", _png(), "image/png")},
                        data={"model": "starry_night", "photo": "true"})
        assert r.status_code == 400 and "style image" in r.json()["detail"]
        r = client.post("/api/fast", files={"content": ("c.png", _png(), "image/png")}, data={"model": "nope"})
        assert r.status_code == 400 and "unknown model" in r.json()["detail"]
        r = client.post("/api/fast", files={"content": ("c.png", b"not an image", "image/png")},
                        data={"model": "starry_night"})
        assert r.status_code == 400
        r = client.post("/api/fast", files={"content": ("c.png", _png(), "image/png")},
                        data={"style_name": "the_scream", "alpha": "2"})
        assert r.status_code == 400  # a bad field is 400, never 422


def test_headers_offline_docs_token_and_rate_limit(tmp_path: Path, shared_data: Path) -> None:
    settings = ServerSettings(rate_per_minute=0, data_dir=tmp_path / "d", token="s3cret")
    with TestClient(create_app(settings)) as client:
        page = client.get("/")
        assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        docs = client.get("/docs").text
        assert "/static-offline-docs/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
        assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
        assert client.get("/api/styles").status_code == 200  # images and the style list stay open
        assert _submit(client).status_code == 401
        assert client.get("/api/fast/models").status_code == 401
        ok = client.get("/api/fast/models", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and client.get("/api/fast/models?token=s3cret").status_code == 200
        assert client.get("/api/fast/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    limited = ServerSettings(data_dir=tmp_path / "e", rate_per_minute=6)  # a burst of 1, then one per 10 s
    with TestClient(create_app(limited)) as client:
        files = {"image": ("t.jpg", (shared_data / "faces" / "two_people.jpg").read_bytes(), "image/jpeg")}
        assert client.post("/api/faces", files=files).status_code == 200
        again = client.post("/api/faces", files=files)
        assert again.status_code == 429 and 1 <= int(again.headers["retry-after"]) <= 10
        assert client.get("/api/styles").status_code == 200  # reading is not limited


def test_face_detection_runs_on_a_bounded_copy(tmp_path: Path, shared_data: Path) -> None:
    from painterly.faces import detect

    data = (shared_data / "faces" / "two_people.jpg").read_bytes()
    full = detect(Image.open(io.BytesIO(data)))
    settings = ServerSettings(rate_per_minute=0, data_dir=tmp_path / "d", face_pixels=150_000)
    with TestClient(create_app(settings)) as client:
        res = client.post("/api/faces", files={"image": ("t.jpg", data, "image/jpeg")}).json()
    assert len(res["faces"]) == 2 and res["width"] == 1126
    for got, want in zip(sorted(res["faces"], key=lambda f: f["box"][0]), sorted(full, key=lambda f: f.box[0]),
                         strict=True):  # boxes in the upload's pixels, as when detected at full size
        assert abs(got["box"][0] - want.box[0]) < 12 and abs(got["box"][2] - want.box[2]) < 12


def _clip(path: Path, frames: int = 12, fps: float = 8.0) -> Path:
    from painterly.image.video import write_video

    rng = np.random.default_rng(0)
    base = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    write_video(path, (np.roll(base, 2 * t, axis=1) for t in range(frames)), fps=fps)
    return path


def test_fast_video_endpoint_returns_an_mp4_within_limits(tmp_path: Path) -> None:
    from painterly.image.video import probe_video

    clip = _clip(tmp_path / "c.mp4").read_bytes()
    settings = ServerSettings(rate_per_minute=0, data_dir=tmp_path / "d", device="cpu", max_video_seconds=5)
    with TestClient(create_app(settings)) as client:
        r = client.post("/api/fast/video", files={"content": ("c.mp4", clip, "video/mp4")},
                        data={"model": "starry_night"})
        assert r.status_code == 200 and r.headers["content-type"] == "video/mp4", r.text
        (tmp_path / "out.mp4").write_bytes(r.content)
        info = probe_video(tmp_path / "out.mp4")
        assert info.size == (64, 48) and (info.n_frames or 0) >= 10
        r = client.post("/api/fast/video", files={"content": ("c.mp4", b"not a video", "video/mp4")},
                        data={"model": "starry_night"})
        assert r.status_code == 400
        r = client.post("/api/fast/video", files={"content": ("c.mp4", clip, "video/mp4")}, data={"model": "nope"})
        assert r.status_code == 400
    short = ServerSettings(rate_per_minute=0, data_dir=tmp_path / "e", device="cpu", max_video_seconds=1)
    small = ServerSettings(rate_per_minute=0, data_dir=tmp_path / "f", device="cpu", max_video_pixels=1000)
    tiny = ServerSettings(rate_per_minute=0, data_dir=tmp_path / "g", device="cpu", max_upload_bytes=len(clip) - 1)
    for s, word in ((short, "limit for clips"), (small, "pixel limit"), (tiny, "upload limit")):
        with TestClient(create_app(s)) as client:
            r = client.post("/api/fast/video", files={"content": ("c.mp4", clip, "video/mp4")},
                            data={"model": "starry_night"})
            assert r.status_code == 413 and word in r.json()["detail"], r.text
