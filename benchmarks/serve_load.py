"""Load check of ``painterly serve`` on loopback only.

    python benchmarks/serve_load.py [--clients 12] [--jobs 24] [--duration 240]

Starts the server on 127.0.0.1 (a free port), sends a bounded number of job
submissions from concurrent clients within a bounded time, polls job status while jobs
run, and reports: accepted (202), rejected (429), other responses, completed, failed
(with reasons), p50/p95 latency of the status endpoint, and the server's peak resident
memory. Every accepted job must end done or failed with a reason; nothing is lost.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import io
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
from PIL import Image


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for k, v in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode())
    for k, (name, data) in files.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"; filename="{name}"\r\n'
                  f"Content-Type: image/png\r\n\r\n".encode())
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def _request(url: str, data: bytes | None = None, ctype: str | None = None) -> tuple[int, dict, float]:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": ctype} if ctype else {})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            body, code = res.read(), res.status
    except urllib.error.HTTPError as exc:
        body, code = exc.read(), exc.code
    dt = time.perf_counter() - t0
    try:
        return code, json.loads(body or b"{}"), dt
    except json.JSONDecodeError:
        return code, {}, dt


def _peak_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _large_faces(base: str, n: int, side: int) -> tuple[dict[int, int], float]:
    """``n`` parallel /api/faces requests with a ``side`` x ``side`` PNG (small file, many pixels)."""
    buf = io.BytesIO()
    img = Image.new("RGB", (side, side), (200, 170, 150))
    img.save(buf, format="PNG")
    body, ctype = _multipart({}, {"image": ("big.png", buf.getvalue())})
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(n) as pool:
        results = list(pool.map(lambda _i: _request(base + "/api/faces", body, ctype), range(n)))
    codes: dict[int, int] = {}
    for code, _body, _dt in results:
        codes[code] = codes.get(code, 0) + 1
    return codes, time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=12)
    p.add_argument("--jobs", type=int, default=24, help="total submissions (bounded)")
    p.add_argument("--face-requests", type=int, default=3, help="parallel large-pixel /api/faces requests")
    p.add_argument("--face-side", type=int, default=6300, help="their side in pixels (a 131 KB PNG at 6300)")
    p.add_argument("--duration", type=float, default=300, help="hard time limit in seconds")
    p.add_argument("--queue-size", type=int, default=6)
    p.add_argument("--size", type=int, default=96)
    args = p.parse_args()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tempfile.mkdtemp(prefix="painterly-load-")
    server = subprocess.Popen([sys.executable, "-m", "painterly", "serve", "--port", str(port), "--data-dir",
                               data_dir, "--queue-size", str(args.queue_size), "--rate-limit", "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t_end = time.time() + args.duration
    try:
        while time.time() < t_end:
            try:
                urllib.request.urlopen(base + "/api/styles", timeout=1)
                break
            except OSError:
                time.sleep(0.3)
        rng = np.random.default_rng(0)
        buf = io.BytesIO()
        Image.fromarray((rng.random((72, 96, 3)) * 255).astype(np.uint8)).save(buf, format="PNG")
        body, ctype = _multipart({"style_name": "starry_night", "size": str(args.size), "iterations": "20"},
                                 {"content": ("c.png", buf.getvalue())})

        def submit(_i: int) -> tuple[int, dict, float]:
            return _request(base + "/api/jobs", body, ctype)

        with cf.ThreadPoolExecutor(args.clients) as pool:
            results = list(pool.map(submit, range(args.jobs)))
        accepted = [r[1]["id"] for r in results if r[0] == 202]
        rejected = sum(1 for r in results if r[0] == 429)
        other = [r[0] for r in results if r[0] not in (202, 429)]
        latencies: list[float] = []
        states: dict[str, dict] = {}
        while time.time() < t_end:
            for job_id in accepted:
                _code, st, dt = _request(f"{base}/api/jobs/{job_id}")
                states[job_id] = st
                if st.get("state") == "running":
                    latencies.append(dt)
            if all(s.get("state") in ("done", "failed", "cancelled") for s in states.values()):
                break
            time.sleep(0.05)
        done = sum(1 for s in states.values() if s.get("state") == "done")
        failed = [s for s in states.values() if s.get("state") == "failed"]
        unfinished = [j for j, s in states.items() if s.get("state") not in ("done", "failed", "cancelled")]
        lost = [j for j in accepted if states.get(j, {}).get("state") is None]
        peak = _peak_rss_mb(server.pid)
        faces = _large_faces(base, args.face_requests, args.face_side)
        peak_faces = _peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    lat = sorted(latencies)
    p50 = statistics.median(lat) * 1000 if lat else float("nan")
    p95 = lat[min(len(lat) - 1, int(0.95 * len(lat)))] * 1000 if lat else float("nan")
    print(f"submissions {args.jobs} from {args.clients} clients (queue size {args.queue_size}, {args.size} px jobs)")
    print(f"accepted {len(accepted)}, rejected 429 {rejected}, other {other or 'none'}")
    print(f"completed {done}, failed {len(failed)} {[f.get('error') for f in failed]}, unfinished {len(unfinished)}, "
          f"lost {len(lost)}")
    print(f"status while a job runs: {len(lat)} requests, p50 {p50:.1f} ms, p95 {p95:.1f} ms (target p95 < 100 ms)")
    print(f"server peak memory (VmHWM) {peak:.0f} MB")
    codes, seconds = faces
    print(f"/api/faces: {args.face_requests} parallel {args.face_side}x{args.face_side} PNGs -> {codes}, "
          f"{seconds:.1f} s in all; server peak memory after them {peak_faces:.0f} MB (bounded: detection runs on "
          "a <= 4 MP copy, one at a time)")


if __name__ == "__main__":
    main()
