"""Pictures of detections: boxes, scores and the five landmarks."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw

from painterly.faces.detection import Face

__all__ = ["annotate"]

_LANDMARK_COLOURS = ("#00aaff", "#00aaff", "#ffdd00", "#ff3366", "#ff3366")


def annotate(image: Image.Image, faces: Sequence[Face], labels: Sequence[str] | None = None) -> Image.Image:
    """A copy of ``image`` with each face's box, score (or label) and landmarks drawn."""
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    line = max(2, round(max(out.size) / 400))
    for i, face in enumerate(faces):
        x1, y1, x2, y2 = face.box
        draw.rectangle((x1, y1, x2, y2), outline="#33ff66", width=line)
        text = labels[i] if labels else f"{face.score:.2f}"
        draw.text((x1 + line, max(0, y1 - 12 - line)), text, fill="#33ff66")
        r = max(2, round(face.width / 40))
        for (x, y), colour in zip(face.landmarks.as_array().tolist(), _LANDMARK_COLOURS, strict=True):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour, outline="black")
    return out
