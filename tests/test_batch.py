"""painterly batch: planning (pure), the local engine, and (marked ``ray``) a real Ray:
an embedded cluster and a two-node cluster with one node killed mid-batch."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from painterly.batch import LocalEngine, Outcome, read_rows, run_batch
from painterly.batch.plan import RECORDS_NAME, check_out_dir, pending_items
from painterly.cli.batch import plan_items, render_item, split_argv
from painterly.cli.main import main
from painterly.errors import ConfigError, ImageError


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Four small photos (two sizes) and nothing else."""
    rng = np.random.default_rng(1)
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(4):
        h, w = (40, 56) if i % 2 else (48, 48)
        yy, xx = np.mgrid[0:h, 0:w]
        arr = np.stack([xx * 4 + i * 9, yy * 5, (xx + yy) * 2], -1) + rng.integers(0, 30, (h, w, 3))
        Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(d / f"p{i}.png")
    return d


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / RECORDS_NAME).read_text().splitlines()]


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


# -- planning (pure) ---------------------------------------------------------------------


def test_rows_from_folder_glob_and_manifests_with_bad_rows(photos: Path, tmp_path: Path) -> None:
    rows, bad = read_rows(photos)
    assert [r.content.name for r in rows] == ["p0.png", "p1.png", "p2.png", "p3.png"] and not bad
    rows, _ = read_rows(str(photos / "p[13].png"))
    assert [r.content.name for r in rows] == ["p1.png", "p3.png"]
    csv_file = tmp_path / "m.csv"
    csv_file.write_text("content,style,options\nphotos/p0.png,a.jpg;b.jpg,--size 32\n,x.jpg,\n")
    rows, bad = read_rows(csv_file)
    assert rows[0].content == photos / "p0.png" and rows[0].styles == ("a.jpg", "b.jpg")
    assert rows[0].options == "--size 32"
    assert bad[0].where == "m.csv line 3" and "content" in bad[0].reason
    jl = tmp_path / "m.jsonl"
    jl.write_text('{"content": "photos/p1.png", "options": {"size": 32}}\nnot json\n{"content": "x", "colour": 1}\n')
    rows, bad = read_rows(jl)
    assert rows[0].options == {"size": 32}
    assert [b.where for b in bad] == ["m.jsonl line 2", "m.jsonl line 3"] and "colour" in bad[1].reason
    with pytest.raises(ImageError, match="no such"):
        read_rows(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="no images"):
        read_rows(tmp_path / "empty")
    with pytest.raises(ImageError, match="no images match"):
        read_rows(str(tmp_path / "*.webp"))


def test_output_folder_inside_the_inputs_is_refused(photos: Path, tmp_path: Path) -> None:
    for out in (photos, photos / "styled", photos / "a" / "b"):
        with pytest.raises(ConfigError, match="inside the input folder"):
            check_out_dir(out, photos)
    with pytest.raises(ConfigError, match="inside the input folder"):
        check_out_dir(photos / "out", str(photos / "*.png"))
    check_out_dir(tmp_path / "out", photos)  # a sibling is fine


def test_single_image_flags_ride_along_with_their_values() -> None:
    own, item = split_argv(["--size", "64", "photos", "-o", "out", "--style", "a.jpg", "--engine=local",
                            "--no-face-pass", "--alpha=0.5", "--gatys"])
    assert own == ["photos", "-o", "out", "--engine=local", "--gatys"]
    assert item == ["--size", "64", "--style", "a.jpg", "--no-face-pass", "--alpha=0.5"]


def test_items_take_the_single_image_parsers_checks_and_unique_names(photos: Path, tmp_path: Path) -> None:
    rows, _ = read_rows(photos)
    items, bad = plan_items(rows, tmp_path / "out", "fast", ["--size", "32"], ".png", True)
    assert [i.output.name for i in items] == [f"p{i}_starry_night.png" for i in range(4)] and not bad
    assert items[0].argv == ("--size", "32", "--model", "starry_night")
    items, bad = plan_items(rows, tmp_path / "out", "fast", ["--size", "big"], ".png", True)
    assert not items and len(bad) == 4 and "invalid int value" in bad[0].reason
    items, bad = plan_items(rows, tmp_path / "out", "gatys", [], ".png", True)
    assert not items and "no style" in bad[0].reason
    twice = [rows[0], rows[0]]
    items, bad = plan_items(twice, tmp_path / "out", "fast", [], ".png", True)
    assert len(items) == 1 and "also" in bad[0].reason


# -- the local engine -------------------------------------------------------------------


def test_local_batch_equals_single_image_command_and_survives_a_corrupt_file(
        photos: Path, tmp_path: Path, capsys) -> None:
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    code = main(["batch", str(photos), "-o", str(out), "--engine", "local", "--size", "40", "--no-identity"])
    err = capsys.readouterr().err
    assert code == 1  # one failure, listed
    assert "done 4, skipped 0" in err and "failed 1" in err and "broken.jpg" in err
    single = tmp_path / "single.png"
    assert main(["fast", str(photos / "p1.png"), "--size", "40", "-o", str(single)]) == 0
    assert np.array_equal(_pixels(single), _pixels(out / "p1_starry_night.png"))
    recs = _records(out)
    assert sorted(r["status"] for r in recs) == ["done"] * 4 + ["failed"]
    failed = next(r for r in recs if r["status"] == "failed")
    assert failed["input"].endswith("broken.jpg") and "image" in failed["error"]
    assert all(r["seconds"] > 0 for r in recs if r["status"] == "done")


def test_resume_skips_finished_items_and_redoes_the_rest(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    rows, _ = read_rows(photos)
    items, _ = plan_items(rows, out, "fast", ["--size", "32"], ".png", False)
    calls: list[str] = []

    def counting(item, data, cache):
        calls.append(item.content.name)
        return render_item(item, data, cache)

    first = run_batch(items[:2], out, LocalEngine(), counting)
    assert len(first.done) == 2
    (out / items[1].output.name).unlink()  # an output lost after its record: done again
    assert [i.content.name for i in pending_items(items, out)] == ["p1.png", "p2.png", "p3.png"]
    second = run_batch(items, out, LocalEngine(), counting)
    assert [p.name for p in second.skipped] == [items[0].output.name]
    assert calls == ["p0.png", "p1.png", "p1.png", "p2.png", "p3.png"]


def test_a_failing_item_is_recorded_and_the_batch_goes_on(photos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    rows, _ = read_rows(photos)
    items, _ = plan_items(rows, out, "fast", [], ".png", False)

    def flaky(item, data, cache):
        if item.content.name == "p2.png":
            return Outcome(error="boom")
        return Outcome(image=Image.new("RGB", (8, 8)))

    summary = run_batch(items, out, LocalEngine(), flaky)
    assert len(summary.done) == 3 and summary.failed == [(items[2].where, "boom")]


def test_cli_bad_inputs_are_one_line_exit_2(photos: Path, tmp_path: Path, capsys) -> None:
    cases = [
        (["batch", str(tmp_path / "nope"), "-o", str(tmp_path / "o")], "no such file"),
        (["batch", str(photos), "-o", str(photos / "out")], "inside the input folder"),
        (["batch", str(photos), "-o", str(tmp_path / "o"), "--engine", "local", "--size", "x"], "no item"),
        (["batch", str(photos), "-o", str(tmp_path / "o"), "--ext", ".xyz"], "not an image extension"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_unreachable_address_fails_within_seconds(photos: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("ray")
    t0 = time.perf_counter()
    code = main(["batch", str(photos), "-o", str(tmp_path / "o"), "--address", "127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "no Ray cluster reachable" in err and err.count("\n") == 1
    assert time.perf_counter() - t0 < 10
    assert not (tmp_path / "o" / RECORDS_NAME).exists()


# -- a real Ray ---------------------------------------------------------------------------


@pytest.fixture
def embedded_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.ray
def test_ray_batch_equals_local_pixel_for_pixel(photos: Path, tmp_path: Path, embedded_ray) -> None:
    from painterly.batch import RayEngine

    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    rows, _ = read_rows(photos)
    local_items, _ = plan_items(rows, tmp_path / "local", "fast", ["--size", "40"], ".png", True)
    ray_items, _ = plan_items(rows, tmp_path / "ray", "fast", ["--size", "40"], ".png", True)
    local = run_batch(local_items, tmp_path / "local", LocalEngine(), render_item)
    engine = RayEngine(cpus=1)
    assert engine.workers == 2
    remote = run_batch(ray_items, tmp_path / "ray", engine, render_item)
    assert len(remote.done) == len(local.done) == 4
    assert [w for w, _ in remote.failed] == [str(photos / "broken.png")]
    for a in local.done:
        assert np.array_equal(_pixels(a), _pixels(tmp_path / "ray" / a.name)), a.name
    nodes = {r["node"] for r in _records(tmp_path / "ray") if r["status"] == "done"}
    assert nodes and "local" not in nodes
    again = run_batch(ray_items, tmp_path / "ray", engine, render_item)
    assert len(again.skipped) == 4 and not again.done and len(again.failed) == 1  # the broken one is retried
    engine.close()


def _ray_cli(*args: str, env: dict, **kw) -> subprocess.CompletedProcess:
    ray_bin = Path(sys.executable).with_name("ray")
    return subprocess.run([str(ray_bin), *args], env=env, capture_output=True, text=True, **kw)


@pytest.mark.ray
@pytest.mark.parametrize("method", ["gatys", "fast"])
def test_two_node_cluster_survives_losing_a_node(photos: Path, tmp_path: Path, method: str) -> None:
    """``ray start --head`` plus a second ``ray start --address`` on this machine; the
    second node is killed once it has finished an item. Every item ends exactly once."""
    pytest.importorskip("ray")
    port = str(6400 + os.getpid() % 500)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    n = 10 if method == "gatys" else 30  # enough work for the second node to join in before the kill
    for i in range(4, n):
        shutil.copy(photos / f"p{i % 4}.png", photos / f"p{i}.png")
    head = _ray_cli("start", "--head", "--num-cpus=1", f"--port={port}", "--include-dashboard=false", env=env,
                    timeout=120)
    assert head.returncode == 0, head.stderr[-2000:]
    node = subprocess.Popen([str(Path(sys.executable).with_name("ray")), "start", f"--address=127.0.0.1:{port}",
                             "--num-cpus=1", "--block"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = tmp_path / "out"
    try:
        check = [sys.executable, "-c", f"import ray; ray.init(address='127.0.0.1:{port}'); "
                 "import time\nfor _ in range(60):\n    n = sum(x['Alive'] for x in ray.nodes())\n"
                 "    if n == 2: break\n    time.sleep(0.5)\nprint(n)"]
        assert subprocess.run(check, env=env, capture_output=True, text=True, timeout=90).stdout.strip() == "2"
        if method == "gatys":
            flags = ["--gatys", "--style", "starry_night", "--size", "48", "--iterations", "40",
                     "--coarse-iterations", "10", "--identity-budget", "none"]
        else:
            flags = ["--size", "512", "--no-identity"]
        batch = subprocess.Popen(
            [sys.executable, "-m", "painterly", "batch", str(photos), "-o", str(out), *flags,
             "--address", f"127.0.0.1:{port}", "--cpus-per-item", "1"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        killed_after = None
        deadline = time.time() + 240
        while batch.poll() is None and time.time() < deadline:
            time.sleep(0.2)
            recs = _records(out) if (out / RECORDS_NAME).exists() else []
            if killed_after is None and len({r["node"] for r in recs}) >= 2:
                os.killpg(node.pid, signal.SIGKILL)  # the second node, raylet and workers, mid-batch
                killed_after = len(recs)
        _, err = batch.communicate(timeout=max(1.0, deadline - time.time()))
        assert batch.returncode == 0, err[-3000:]
    finally:
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGKILL)
        _ray_cli("stop", "--force", env=env, timeout=120)
    recs = _records(out)
    assert killed_after is not None and killed_after < n, "the second node was not killed mid-batch"
    assert len({r["node"] for r in recs}) == 2
    outputs = [r["output"] for r in recs]
    assert sorted(outputs) == sorted(f"p{i}_starry_night.png" for i in range(n))  # each exactly once
    assert all(r["status"] == "done" for r in recs)
    assert all((out / o).exists() for o in outputs)


@pytest.mark.ray
def test_server_runs_jobs_on_ray_with_progress_and_cancel(tmp_path: Path, embedded_ray) -> None:
    import io

    from fastapi.testclient import TestClient

    from painterly.web.app import ServerSettings, create_app

    settings = ServerSettings(rate_per_minute=0, data_dir=tmp_path / "srv", ray=True, ray_cpus=1)
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray((rng.random((48, 64, 3)) * 255).astype(np.uint8)).save(buf, format="PNG")
    with TestClient(create_app(settings)) as client:
        def submit(iterations: int) -> str:
            res = client.post("/api/jobs", files={"content": ("c.png", buf.getvalue(), "image/png")},
                              data={"style_name": "the_scream", "size": "64", "iterations": str(iterations)})
            assert res.status_code == 202, res.text
            return res.json()["id"]

        def wait(job_id: str, states: tuple[str, ...]) -> dict:
            deadline = time.time() + 180
            while time.time() < deadline:
                body = client.get(f"/api/jobs/{job_id}").json()
                if body["state"] in states:
                    return body
                time.sleep(0.1)
            raise AssertionError(body)

        done = submit(30)
        job = wait(done, ("done", "failed"))
        assert job["state"] == "done", job
        assert job["progress"]["step"] > 0 and job["losses"]["total"] > 0
        img = Image.open(io.BytesIO(client.get(f"/api/jobs/{done}/result").content))
        assert img.size == (64, 48)
        assert client.get(f"/api/jobs/{done}/record").json()["steps"] > 0  # the record came back with the result
        long = submit(1000)
        wait(long, ("running",))
        deadline = time.time() + 60
        while client.get(f"/api/jobs/{long}").json()["progress"]["step"] == 0 and time.time() < deadline:
            time.sleep(0.1)  # progress flows back from the Ray worker
        assert client.post(f"/api/jobs/{long}/cancel").status_code in (200, 202)
        assert wait(long, ("cancelled", "failed", "done"))["state"] == "cancelled"


def test_ray_workers_keep_freed_memory(monkeypatch) -> None:
    # a Ray worker process runs only our items: it sets its threads and keeps freed memory
    import torch

    import painterly.device
    from painterly.batch import engines

    calls: list[int] = []
    monkeypatch.setattr(painterly.device, "keep_freed_memory", lambda: calls.append(1) or True)
    before = torch.get_num_threads()
    try:
        engines._worker_setup(1)
        assert calls == [1] and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
