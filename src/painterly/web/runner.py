"""What a stylisation job does on the server: a Gatys portrait run (or the sketch
preset) on the files the upload stored under the job's folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from painterly.methods.config import GatysConfig
from painterly.web.jobs import Job

__all__ = ["PORTRAIT_OPTIONS", "PRESETS", "job_runner"]

PORTRAIT_OPTIONS = ("face_aware", "face_paint")
PRESETS = ("sketch",)


def job_runner(device: str) -> Any:
    """The worker body: one stylisation, progress through ``on_progress``."""
    cache: dict[str, Any] = {}

    def run(job: Job, job_dir: Path, on_progress: Any) -> None:
        from painterly import Stylizer, create_backbone
        from painterly.files import write_json
        from painterly.image import save_image
        from painterly.methods.portrait import PortraitConfig, stylize_portrait
        from painterly.records import run_record

        opts = dict(job.options)
        if "backbone" not in cache:
            cache["backbone"] = create_backbone("auto")
        styles = sorted(job_dir.glob("style_*.png"))
        portrait = {k: opts.pop(k) for k in PORTRAIT_OPTIONS if k in opts}
        if opts.pop("preset", None) == "sketch":
            _run_sketch(job, job_dir, opts, on_progress, device)
            return
        cfg = GatysConfig(device=device, **opts)
        stylizer = Stylizer([str(p) for p in styles], cfg, backbone=cache["backbone"])
        pconfig = PortraitConfig(**portrait)
        result = stylize_portrait(stylizer, job_dir / "content.png", pconfig, callback=on_progress)
        job.identity = result.identity
        job.losses = result.result.losses
        save_image(result.image, job_dir / "result.png")
        write_json(job_dir / "record.json", run_record(result, stylizer, content="content.png",
                                                       styles=[p.name for p in styles], output="result.png",
                                                       portrait_config=pconfig))

    return run


def _run_sketch(job: Job, job_dir: Path, opts: dict[str, Any], on_progress: Any, device: str) -> None:
    """The pencil-sketch preset: no painting, no optimisation; identity measured."""
    from painterly.events import Event
    from painterly.image import save_image
    from painterly.methods.sketch import SketchConfig, sketch_portrait

    on_progress(Event(step=0, total_steps=1))
    result = sketch_portrait(job_dir / "content.png", SketchConfig(size=opts.get("size", 512)), device=device)
    job.identity = result.identity
    save_image(result.image, job_dir / "result.png")
    on_progress(Event(step=1, total_steps=1))
