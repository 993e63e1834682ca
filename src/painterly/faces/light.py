"""MTCNN and the fast face pass without torch: onnxruntime for the three networks
(bundled in ``mtcnn_onnx/``, exported from :mod:`painterly.faces.mtcnn` by
``scripts/export_mtcnn_onnx.py``) and numpy for the cascade, so ``painterly fast`` on
onnxruntime keeps faces recognisable without loading torch.

It follows :class:`painterly.faces.detection.FaceDetector` step for step (pyramid levels
each from the one before by area averaging, the same crops, thresholds and NMS);
``tests/test_light.py`` holds its boxes and landmarks to the torch detector's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from painterly.device import onnx_cpu_options
from painterly.faces.cascade import pyramid_scales
from painterly.faces.face import Face, Landmarks
from painterly.faces.face_pass_config import FAST_FACE_PASS, VIDEO_FACE_PASS, VIDEO_TRACK_EVERY, FacePassConfig
from painterly.faces.masks import face_mask_array
from painterly.faces.plausible import DEFAULT_CHECK, FaceCheck, plausible_faces
from painterly.faces.tracking import FaceTracker

__all__ = ["LightFaceDetector", "LightFacePass", "area_resize", "nms_array", "shared_light_detector"]

MODELS = Path(__file__).resolve().parent / "mtcnn_onnx"


def _windows(n: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    i = np.arange(out)
    return (i * n) // out, -((-(i + 1) * n) // out)  # floor(i n / out), ceil((i + 1) n / out)


def area_resize(x: np.ndarray, height: int, width: int) -> np.ndarray:
    """(..., H, W) -> (..., height, width) by area averaging, as torch's
    ``F.interpolate(mode="area")`` (adaptive average pooling): each output pixel is the
    mean of an integer window. The window is a rectangle, so rows then columns, each
    from a running sum."""
    h, w = x.shape[-2:]
    y0, y1 = _windows(h, height)
    x0, x1 = _windows(w, width)
    rows = np.zeros((*x.shape[:-2], h + 1, w), dtype=np.float64)
    np.cumsum(x, axis=-2, dtype=np.float64, out=rows[..., 1:, :])
    r = (rows[..., y1, :] - rows[..., y0, :]) / (y1 - y0)[:, None]
    cols = np.zeros((*r.shape[:-1], w + 1), dtype=np.float64)
    np.cumsum(r, axis=-1, out=cols[..., 1:])
    return ((cols[..., x1] - cols[..., x0]) / (x1 - x0)).astype(np.float32)


def nms_array(boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union") -> np.ndarray:
    """Greedy non-maximum suppression on (N, 4) x1, y1, x2, y2; kept indices, best first."""
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.clip(rb - lt, 0, None).prod(-1)
        denom = np.minimum(area[i], area[rest]) if method == "min" else area[i] + area[rest] - inter
        order = rest[inter / np.maximum(denom, 1e-9) <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(b: np.ndarray) -> np.ndarray:
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    side = np.maximum(w, h)
    x1, y1 = b[:, 0] + 0.5 * w - 0.5 * side, b[:, 1] + 0.5 * h - 0.5 * side
    return np.stack([x1, y1, x1 + side, y1 + side], 1)


def _regress(b: np.ndarray, off: np.ndarray) -> np.ndarray:
    w, h = b[:, 2] - b[:, 0] + 1, b[:, 3] - b[:, 1] + 1
    return b + off * np.stack([w, h, w, h], 1)


def _crops(x: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(N, 3, size, size) crops of the normalised (3, H, W) image: integer box, black
    outside the image, area resize (as ``detect._crops``)."""
    _, h, w = x.shape
    black = -127.5 / 128.0
    out = np.empty((len(boxes), 3, size, size), dtype=np.float32)
    for n, (bx1, by1, bx2, by2) in enumerate(np.round(boxes).astype(np.int64).tolist()):
        bx2, by2 = max(bx2, bx1 + 1), max(by2, by1 + 1)
        crop = np.full((3, by2 - by1, bx2 - bx1), black, dtype=np.float32)
        sy0, sy1, sx0, sx1 = max(by1, 0), min(by2, h), max(bx1, 0), min(bx2, w)
        if sy1 > sy0 and sx1 > sx0:
            crop[:, sy0 - by1 : sy1 - by1, sx0 - bx1 : sx1 - bx1] = x[:, sy0:sy1, sx0:sx1]
        out[n] = area_resize(crop, size, size)
    return out


class LightFaceDetector:
    """The MTCNN cascade on onnxruntime (CPU) and numpy; same options as FaceDetector."""

    def __init__(self, *, min_face_size: float = 20.0, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8),
                 scale_factor: float = 0.709, check: FaceCheck | None = DEFAULT_CHECK,
                 threads: int | None = None) -> None:
        import onnxruntime as ort

        self.min_face_size, self.thresholds, self.scale_factor, self.check = (
            float(min_face_size), thresholds, scale_factor, check)
        opts = onnx_cpu_options(threads)
        self.nets = {n: ort.InferenceSession(str(MODELS / f"{n}.onnx"), opts, providers=["CPUExecutionProvider"])
                     for n in ("pnet", "rnet", "onet")}

    def _run(self, name: str, x: np.ndarray) -> list[np.ndarray]:
        return self.nets[name].run(None, {"image": np.ascontiguousarray(x, dtype=np.float32)})

    def scales(self, height: int, width: int) -> list[float]:
        return pyramid_scales(height, width, self.min_face_size, self.scale_factor)

    def __call__(self, image: Image.Image) -> list[Face]:
        faces = self.candidates(image)
        if self.check is None:
            return faces
        return plausible_faces(faces, np.asarray(image.convert("RGB")), self.check)[0]

    def candidates(self, image: Image.Image) -> list[Face]:
        x = (np.asarray(image.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) - 127.5) / 128.0
        h, w = x.shape[-2:]
        found = []
        level = x
        for scale in self.scales(h, w):
            level = area_resize(level, math.ceil(h * scale), math.ceil(w * scale))
            offsets, prob = self._run("pnet", level[None])
            ys, xs = np.nonzero(prob[0] > self.thresholds[0])
            if ys.size == 0:
                continue
            score = prob[0, ys, xs]
            reg = offsets[0][:, ys, xs].T
            cell = np.stack([xs * 2, ys * 2, xs * 2 + 12, ys * 2 + 12], 1).astype(np.float32)
            boxes = (cell + reg * 12.0) / scale
            keep = nms_array(boxes, score, 0.5)
            found.append(np.concatenate([boxes[keep], score[keep, None]], 1))
        if not found:
            return []
        cand = np.concatenate(found)
        cand = cand[nms_array(cand[:, :4], cand[:, 4], 0.7)]
        boxes = _square(cand[:, :4])
        offsets, prob = self._run("rnet", _crops(x, boxes, 24))
        mask = prob > self.thresholds[1]
        boxes, prob, offsets = boxes[mask], prob[mask], offsets[mask]
        if boxes.shape[0] == 0:
            return []
        boxes = _regress(boxes, offsets)
        boxes = _square(boxes[nms_array(boxes, prob, 0.7)])
        offsets, marks, prob = self._run("onet", _crops(x, boxes, 48))
        bw, bh = boxes[:, 2:3] - boxes[:, 0:1] + 1, boxes[:, 3:4] - boxes[:, 1:2] + 1
        lx = bw * marks[:, 0:5] + boxes[:, 0:1] - 1
        ly = bh * marks[:, 5:10] + boxes[:, 1:2] - 1
        boxes = _regress(boxes, offsets)
        mask = prob > self.thresholds[2]
        boxes, prob, lx, ly = boxes[mask], prob[mask], lx[mask], ly[mask]
        if boxes.shape[0] == 0:
            return []
        faces = []
        for i in nms_array(boxes, prob, 0.7, method="min").tolist():
            x1, y1, x2, y2 = (float(v) for v in boxes[i])
            box = (max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2))
            faces.append(Face(box, float(prob[i]), Landmarks(*[(float(lx[i, k]), float(ly[i, k])) for k in range(5)])))
        return faces


@lru_cache(maxsize=1)
def shared_light_detector() -> LightFaceDetector:
    """One light MTCNN (default options) per process, as
    :func:`painterly.faces.detection.shared_detector` for torch: the face pass and the
    identity report of a video share its three sessions."""
    return LightFaceDetector()


Restyle = Callable[[np.ndarray], np.ndarray]  # (1, 3, h, w) [0, 1] -> same shape, stylised


class LightFacePass:
    """:class:`painterly.faces.face_pass.FacePass` (mask blend) in numpy: small faces are
    cut out, enlarged, stylised again and put back through the feathered face mask."""

    def __init__(self, config: FacePassConfig = FAST_FACE_PASS, detector: Any = None, *,
                 track_every: int | None = None) -> None:
        if config.blend != "mask":
            raise ValueError("the light face pass blends through the face mask only")
        self.config, self.faces_seen = config, 0
        self._detector = detector
        self.tracker: FaceTracker | None = None
        if track_every is not None:  # video: frames in order; detect every few, follow by flow
            self.tracker = FaceTracker(lambda frame: self.detect(Image.fromarray(frame)), every=track_every)

    @classmethod
    def fast(cls, *, video: bool) -> LightFacePass:
        """As :meth:`painterly.faces.face_pass.FacePass.fast`: on video the faces are
        tracked and zoomed less (:data:`VIDEO_FACE_PASS`)."""
        return cls(VIDEO_FACE_PASS if video else FAST_FACE_PASS, track_every=VIDEO_TRACK_EVERY if video else None)

    def detect(self, image: Image.Image) -> list[Face]:
        """The faces the pass would take in ``image`` (untracked): a photo's can be found
        beside the network and handed to the call (``faces=``)."""
        if self._detector is None:
            self._detector = shared_light_detector()
        return list(self._detector(image))

    def __call__(self, restyle: Restyle, source: Image.Image, output: np.ndarray,
                 faces: list[Face] | None = None) -> np.ndarray:
        """``source`` the photo, ``output`` its stylised (3, H, W) float32 [0, 1] at the
        same size; returns the blended result. With ``track_every`` the photos are a
        video's frames in order. ``faces``: found already (:meth:`detect`)."""
        if faces is None:
            faces = self.tracker(np.asarray(source)) if self.tracker is not None else self.detect(source)
        out = output.copy()
        for face in faces:
            out = self.one(restyle, source, out, face)
        return out

    def one(self, restyle: Restyle, source: Image.Image, output: np.ndarray, face: Face) -> np.ndarray:
        height, width = output.shape[-2:]
        window = self.config.window(face, height, width)
        if window is None:
            return output
        left, top, right, bottom, zoom = window
        size = (max(8, round((right - left) * zoom)), max(8, round((bottom - top) * zoom)))  # (W, H)
        big = source.crop((left, top, right, bottom)).resize(size, Image.Resampling.BICUBIC)
        x = (np.asarray(big, dtype=np.float32) / 255.0).transpose(2, 0, 1)[None]
        styled = restyle(x)[0]
        import cv2  # here, not at the top: a single image pays for its import only with a face

        # OpenCV's area resize: the same averages as area_resize for a shrink, 10x faster
        small = cv2.resize(np.ascontiguousarray(styled.transpose(1, 2, 0)), (right - left, bottom - top),
                           interpolation=cv2.INTER_AREA).transpose(2, 0, 1)
        region = output[:, top:bottom, left:right]
        m = face_mask_array([face.moved(dx=-left, dy=-top)], bottom - top, right - left)[None]
        out = output.copy()
        out[:, top:bottom, left:right] = m * small + (1 - m) * region
        self.faces_seen += 1
        return out
