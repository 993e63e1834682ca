"""Face detection with our PyTorch MTCNN: P-Net over an image pyramid, then R-Net and
O-Net on batched crops, box regression and non-maximum suppression at each stage.

Coordinates are pixels of the input image, (x, y) with x to the right, y down.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from painterly.device import resolve_device
from painterly.faces.cascade import pyramid_scales
from painterly.faces.face import Face, Landmarks
from painterly.faces.mtcnn import ONet, PNet, RNet, load_mtcnn_weights
from painterly.faces.plausible import DEFAULT_CHECK, FaceCheck, plausible_faces
from painterly.image.io import ImageInput, load_image

__all__ = ["Face", "FaceDetector", "Landmarks", "box_iou", "detect", "detect_on_copy", "nms", "shared_detector"]


def box_iou(a: torch.Tensor, b: torch.Tensor, method: str = "union") -> torch.Tensor:
    """IoU of boxes a (N, 4) against b (M, 4) as x1, y1, x2, y2 -> (N, M).

    ``method="min"`` divides the intersection by the smaller area (MTCNN's last NMS).
    """
    area_a = (a[:, 2] - a[:, 0]).clamp_min(0) * (a[:, 3] - a[:, 1]).clamp_min(0)
    area_b = (b[:, 2] - b[:, 0]).clamp_min(0) * (b[:, 3] - b[:, 1]).clamp_min(0)
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp_min(0).prod(-1)
    if method == "min":
        denom = torch.minimum(area_a[:, None], area_b[None, :])
    else:
        denom = area_a[:, None] + area_b[None, :] - inter
    return inter / denom.clamp_min(1e-9)


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float, method: str = "union") -> torch.Tensor:
    """Greedy non-maximum suppression; returns kept indices, highest score first."""
    order = scores.argsort(descending=True)
    keep: list[int] = []
    while order.numel() > 0:
        i = int(order[0])
        keep.append(i)
        if order.numel() == 1:
            break
        overlap = box_iou(boxes[i : i + 1], boxes[order[1:]], method)[0]
        order = order[1:][overlap <= threshold]
    return torch.tensor(keep, dtype=torch.long)


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow boxes to squares around their centres (MTCNN's ``rerec``)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    x1 = boxes[:, 0] + 0.5 * w - 0.5 * side
    y1 = boxes[:, 1] + 0.5 * h - 0.5 * side
    return torch.stack([x1, y1, x1 + side, y1 + side], 1)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Apply R-Net/O-Net box offsets (fractions of the box size, +1 pixel convention)."""
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    return boxes + offsets * torch.stack([w, h, w, h], 1)


def _crops(image: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Crops (N, 3, size, size) of the normalised ``image`` (1, 3, H, W), as the
    original MTCNN makes them: integer box, black outside the image, area resize.

    (Bilinear crop-and-resize, as in the Keras port, scored the same face 0.89 in
    one photo and 1.0 in its RGBA twin, and a blurred background patch 0.90 in
    ../shared/data/faces/obama.jpg; these crops give 0.985, 0.985 and 0.77.)
    """
    _, _, h, w = image.shape
    black = -127.5 / 128.0
    out = []
    for x1, y1, x2, y2 in boxes.round().long().tolist():
        x2, y2 = max(x2, x1 + 1), max(y2, y1 + 1)
        crop = image[:, :, max(y1, 0) : min(y2, h), max(x1, 0) : min(x2, w)]
        pad = [max(0, -x1), max(0, x2 - w), max(0, -y1), max(0, y2 - h)]
        if crop.shape[-1] == 0 or crop.shape[-2] == 0:
            crop = torch.full((1, 3, y2 - y1, x2 - x1), black, device=image.device)
        elif any(pad):
            crop = F.pad(crop, pad, value=black)
        out.append(F.interpolate(crop, size=(size, size), mode="area"))
    return torch.cat(out) if out else image.new_zeros((0, 3, size, size))


class FaceDetector:
    """MTCNN cascade. ``thresholds`` are the P/R/O-Net face probabilities to keep;
    faces smaller than ``min_face_size`` pixels are not searched for."""

    def __init__(
        self,
        *,
        min_face_size: float = 20.0,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.8),
        scale_factor: float = 0.709,
        device: str | torch.device = "auto",
        check: FaceCheck | None = DEFAULT_CHECK,
    ) -> None:
        self.min_face_size = float(min_face_size)
        self.check = check  # None: every box the cascade keeps, false faces included
        self.thresholds = thresholds
        self.scale_factor = scale_factor
        self.device = resolve_device(device)
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()
        load_mtcnn_weights(self.pnet, self.rnet, self.onet)
        for net in (self.pnet, self.rnet, self.onet):
            net.to(self.device).eval().requires_grad_(False)

    def scales(self, height: int, width: int) -> list[float]:
        """Pyramid scales: the first maps ``min_face_size`` to P-Net's 12 px window."""
        return pyramid_scales(height, width, self.min_face_size, self.scale_factor)

    def __call__(self, image: ImageInput) -> list[Face]:
        """Faces in ``image``, best score first; boxes that fail the plausibility check
        (:mod:`painterly.faces.plausible`) are left out."""
        return self.detect_with_rejections(image)[0]

    def detect_with_rejections(self, image: ImageInput) -> tuple[list[Face], list[tuple[Face, str]]]:
        """(faces, [(box turned down by the plausibility check, why)]). Nothing is kept
        on the detector: threads share one."""
        pil = load_image(image)
        faces = self.candidates(pil)
        if self.check is None:
            return faces, []
        return plausible_faces(faces, np.asarray(pil), self.check)

    @torch.no_grad()
    def candidates(self, image: ImageInput) -> list[Face]:
        """Every box the MTCNN cascade keeps, without the plausibility check."""
        pil = load_image(image)
        arr = torch.from_numpy(np.asarray(pil, dtype=np.float32).copy()).permute(2, 0, 1)[None]
        x = ((arr - 127.5) / 128.0).to(self.device)
        h, w = x.shape[-2:]

        # Stage 1: P-Net over the pyramid
        candidates = []
        level = x
        for scale in self.scales(h, w):
            sh, sw = math.ceil(h * scale), math.ceil(w * scale)
            # each level from the previous one: area-averaging the full image at every
            # scale took ~40% of the detection time on a 3 MP photo
            level = F.interpolate(level, size=(sh, sw), mode="area")
            offsets, prob = self.pnet(level)
            ys, xs = torch.nonzero(prob[0] > self.thresholds[0], as_tuple=True)
            if ys.numel() == 0:
                continue
            score = prob[0, ys, xs]
            reg = offsets[0, :, ys, xs].T
            # each output cell is a 12x12 window at stride 2 in the scaled image
            cell = torch.stack([xs * 2, ys * 2, xs * 2 + 12, ys * 2 + 12], 1).float()
            boxes = (cell + reg * 12.0) / scale
            keep = nms(boxes, score, 0.5)
            candidates.append(torch.cat([boxes[keep], score[keep, None]], 1))
        if not candidates:
            return []
        cand = torch.cat(candidates)
        cand = cand[nms(cand[:, :4], cand[:, 4], 0.7)]
        boxes = _square(cand[:, :4])

        # Stage 2: R-Net on 24x24 crops, one batch
        offsets, prob = self.rnet(_crops(x, boxes, 24))
        mask = prob > self.thresholds[1]
        boxes, prob, offsets = boxes[mask], prob[mask], offsets[mask]
        if boxes.shape[0] == 0:
            return []
        boxes = _regress(boxes, offsets)
        keep = nms(boxes, prob, 0.7)
        boxes = _square(boxes[keep])

        # Stage 3: O-Net on 48x48 crops: final boxes and landmarks
        offsets, marks, prob = self.onet(_crops(x, boxes, 48))
        bw = boxes[:, 2:3] - boxes[:, 0:1] + 1
        bh = boxes[:, 3:4] - boxes[:, 1:2] + 1
        lx = bw * marks[:, 0:5] + boxes[:, 0:1] - 1
        ly = bh * marks[:, 5:10] + boxes[:, 1:2] - 1
        boxes = _regress(boxes, offsets)
        mask = prob > self.thresholds[2]
        boxes, prob, lx, ly = boxes[mask], prob[mask], lx[mask], ly[mask]
        if boxes.shape[0] == 0:
            return []
        keep = nms(boxes, prob, 0.7, method="min")
        faces = []
        for i in keep.tolist():
            x1, y1, x2, y2 = (float(v) for v in boxes[i])
            x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(float(w), x2), min(float(h), y2)
            pts = [(float(lx[i, k]), float(ly[i, k])) for k in range(5)]
            faces.append(Face((x1, y1, x2, y2), float(prob[i]), Landmarks(*pts)))
        return faces


@lru_cache(maxsize=4)
def _detector_for(min_face_size: float, device: torch.device) -> FaceDetector:
    return FaceDetector(min_face_size=min_face_size, device=device)


def shared_detector(min_face_size: float = 20.0, device: str | torch.device = "auto") -> FaceDetector:
    """One MTCNN per process, minimum face size and (resolved) device: ``"auto"`` and
    the device it resolves to share one. The weights load once, not per image or request."""
    return _detector_for(float(min_face_size), resolve_device(device))


def detect(
    image: ImageInput | Image.Image, *, min_face_size: float = 20.0, device: str | torch.device = "auto"
) -> list[Face]:
    """Detect faces in an image (path, PIL image or array); best score first."""
    return shared_detector(min_face_size, device)(image)


def detect_on_copy(detector: Callable[[Image.Image], list[Face]], image: Image.Image, scale: float) -> list[Face]:
    """Faces found by ``detector`` on a BOX-downscaled copy of ``image`` (``scale`` of
    its sides), given in ``image``'s pixels. A ``scale`` of 1 or more detects on
    ``image`` itself: the copy is never enlarged. MTCNN's cost grows with the pixels it
    scans (about 0.35 s per megapixel on 2 cores), not with what the caller needs."""
    if scale >= 1.0:
        return list(detector(image))
    small = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                         Image.Resampling.BOX)
    sx, sy = image.width / small.width, image.height / small.height
    return [f.moved(sx, sy) for f in detector(small)]
