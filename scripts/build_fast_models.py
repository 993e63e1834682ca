"""Train the feed-forward models that ship in the package (src/painterly/fast_models).

Run from the repository root with ../shared beside it:

    python scripts/build_fast_models.py [--steps 1000] [--adain-steps 2000] [--only NAME ...]

Training images: ../shared/data/content, three of ../shared/data/faces and eleven
``skimage.data`` photos, written to out/fast_train/content. The remaining faces
(obama.jpg, obama3.jpg, biden2.jpg, ...) are held out for benchmarks/fast.py. AdaIN
styles: the six paintings of ../shared/data/styles and three skimage textures. The WCT
decoder is trained for reconstruction on the photos only. Each
model is saved as fp16 weights and its record (command, data, steps, time, losses)
is appended to src/painterly/fast_models/MODELS.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
MODELS = ROOT / "src" / "painterly" / "fast_models"
TRAIN_FACES = ("biden.jpg", "obama2.jpg", "two_people.jpg")
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field",
                  "immunohistochemistry", "retina", "cat", "clock", "coins")
SKIMAGE_TEXTURES = ("brick", "grass", "gravel")
STYLES = ("starry_night", "the_scream", "shipwreck", "mondrian_cropped")


def _save(arr: np.ndarray, path: Path) -> None:
    Image.fromarray(arr).convert("RGB").save(path, quality=95)


def build_data(folder: Path) -> tuple[Path, Path]:
    import skimage.data

    content, styles = folder / "content", folder / "styles"
    for d in (content, styles):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    for p in sorted((SHARED / "content").glob("*.jpg")):
        shutil.copy(p, content / p.name)
    for name in TRAIN_FACES:
        shutil.copy(SHARED / "faces" / name, content / name)
    for name in SKIMAGE_PHOTOS:
        _save(getattr(skimage.data, name)(), content / f"skimage_{name}.jpg")
    for p in sorted((SHARED / "styles").glob("*.jpg")):
        shutil.copy(p, styles / p.name)
    for name in SKIMAGE_TEXTURES:
        _save(getattr(skimage.data, name)(), styles / f"skimage_{name}.jpg")
    return content, styles


def write_record() -> Path:
    """MODELS.md from training_log.jsonl: how each shipped model was made."""
    rows = [json.loads(line) for line in (MODELS / "training_log.jsonl").read_text().splitlines() if line.strip()]
    latest = {r["name"]: r for r in rows}  # a retrained model replaces its earlier record
    lines = [
        "# Bundled fast-style models",
        "",
        "Trained with painterly's own code by `python scripts/build_fast_models.py` (CPU, 2 cores,",
        "torch threads 2), weights stored as fp16. Training photos (out/fast_train/content):",
        f"../shared/data/content/*.jpg, {', '.join(TRAIN_FACES)} from ../shared/data/faces, and",
        f"skimage.data {', '.join(SKIMAGE_PHOTOS)}. Held out for benchmarks/fast.py: the other faces.",
        f"AdaIN styles: ../shared/data/styles/*.jpg and skimage.data {', '.join(SKIMAGE_TEXTURES)}.",
        "Every crop is random (scale jitter up to 2x, left-right flips). With COCO or WikiArt, point",
        "the same commands at those folders.",
        "",
        "| model | command | steps | CPU time | loss network | final losses (mean of last 50 steps) | size |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in latest.values():
        losses = ", ".join(f"{k} {v:.3g}" for k, v in r["final_losses_mean_last_50"].items())
        lines.append(f"| {r['name']} | `{r['command']}` | {r['steps']} | {r['seconds'] / 60:.1f} min | "
                     f"{r['backbone']} | {losses} | {r['bytes'] / 2**10:.0f} KB |")
    lines += ["", "The resolved configuration of each run is inside its checkpoint (`painterly fast --list`;",
              "`torch.load(path)['config']`) and in training_log.jsonl.", ""]
    out = MODELS / "MODELS.md"
    out.write_text("\n".join(lines))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--adain-steps", type=int, default=2000)
    ap.add_argument("--wct-steps", type=int, default=2000)
    ap.add_argument("--only", nargs="*", default=None, help="model names (styles, 'adain' or 'wct')")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--record-only", action="store_true", help="rewrite MODELS.md from training_log.jsonl")
    args = ap.parse_args()
    if args.record_only:
        print(write_record())
        return

    from painterly.methods.feedforward import AdaINTrainConfig, FastTrainConfig, train_adain, train_transformer
    from painterly.methods.feedforward.wct import WCTTrainConfig, train_wct

    work = ROOT / "out" / "fast_train"
    content, styles = build_data(work)
    MODELS.mkdir(parents=True, exist_ok=True)
    records = []
    for name in (*STYLES, "adain", "wct"):
        if args.only and name not in args.only:
            continue
        out = MODELS / f"{name}.pt"
        t0 = time.perf_counter()
        if name == "adain":
            cfg = AdaINTrainConfig(steps=args.adain_steps, device=args.device)
            res = train_adain(content, styles, cfg, work / f"{name}.pt", half=True, report_dir=work / f"{name}_report")
            cmd = (f"painterly train adain --content {content.relative_to(ROOT)} --styles {styles.relative_to(ROOT)} "
                   f"--steps {cfg.steps} --half -o {name}.pt")
        elif name == "wct":
            cfg = WCTTrainConfig(steps=args.wct_steps, device=args.device)
            res = train_wct(content, cfg, work / f"{name}.pt", half=True, report_dir=work / f"{name}_report")
            cmd = f"painterly train wct --content {content.relative_to(ROOT)} --steps {cfg.steps} --half -o {name}.pt"
        else:
            cfg = FastTrainConfig(styles=(str(SHARED / "styles" / f"{name}.jpg"),), steps=args.steps,
                                  device=args.device)
            res = train_transformer(content, cfg, work / f"{name}.pt", half=True, report_dir=work / f"{name}_report")
            cmd = (f"painterly train style --style ../shared/data/styles/{name}.jpg "
                   f"--content {content.relative_to(ROOT)} --steps {cfg.steps} --half -o {name}.pt")
        shutil.copy(res.path, out)
        last = res.history[-50:]
        keys = [k for k in last[-1] if k not in ("step", "scale", "size", "elapsed")]
        final = {k: round(float(np.mean([h[k] for h in last])), 4) for k in keys}
        records.append({"name": name, "command": cmd, "steps": res.steps, "seconds": round(time.perf_counter() - t0, 1),
                        "backbone": res.backbone, "final_losses_mean_last_50": final,
                        "bytes": out.stat().st_size, "config": cfg.to_dict()})
        print(json.dumps(records[-1]), flush=True)
    log = MODELS / "training_log.jsonl"
    with log.open("a") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    print(write_record())


if __name__ == "__main__":
    main()
