"""Optical flow between video frames (OpenCV's DIS, no weights), backward warping and
the occlusion test of Ruder et al. 2016, as pure functions on numpy arrays.

Flow (H, W, 2) float32 holds, for each pixel (x, y) of the first frame, the (dx, dy)
to its place in the second frame.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from painterly.errors import ConfigError

__all__ = ["TemporalBlend", "dis_flow", "grey", "occlusion_mask", "warp", "warping_error"]


def _cv2():
    try:
        import cv2
    except ImportError:
        raise ConfigError("video with temporal consistency needs OpenCV: pip install opencv-python-headless") \
            from None
    return cv2


def grey(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 or float [0, 1] RGB -> (H, W) uint8 luma."""
    f = frame if frame.dtype == np.uint8 else (np.clip(frame, 0, 1) * 255).round().astype(np.uint8)
    return _cv2().cvtColor(np.ascontiguousarray(f), _cv2().COLOR_RGB2GRAY)  # 0.299 R + 0.587 G + 0.114 B


def dis_flow(first: np.ndarray, second: np.ndarray, *, preset: str = "medium") -> np.ndarray:
    """Dense flow first -> second (both (H, W) uint8 grey), DIS (Kroeger et al. 2016)."""
    cv2 = _cv2()
    presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
    dis = cv2.DISOpticalFlow_create(presets[preset])
    return dis.calc(first, second, None)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: out(p) = image(p + flow(p)), bilinear, edges replicated.
    ``image`` (H, W) or (H, W, C) float32; ``flow`` (H, W, 2)."""
    cv2 = _cv2()
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image.astype(np.float32), gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_CUBIC,
                     borderMode=cv2.BORDER_REPLICATE)


def occlusion_mask(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """(H, W) float32, 1 where the pixels of the *second* frame are seen in the first.

    ``forward`` is first -> second, ``backward`` second -> first. Ruder et al.'s rules,
    at each pixel p of the second frame with w_bw = backward(p) and w_fw the forward
    flow at p + w_bw: occluded if |w_fw + w_bw|^2 > 0.01 (|w_fw|^2 + |w_bw|^2) + 0.5,
    and on motion boundaries, |grad u|^2 + |grad v|^2 > 0.01 |w_bw|^2 + 0.002.
    """
    fw_at = warp(forward, backward)
    # u and v apart: numpy sums over a last axis of 2 slowly (this is 2x faster at 320 px)
    fu, fv, bu, bv = fw_at[..., 0], fw_at[..., 1], backward[..., 0], backward[..., 1]
    su, sv = fu + bu, fv + bv
    b2 = bu * bu + bv * bv
    occluded = su * su + sv * sv > 0.01 * (fu * fu + fv * fv + b2) + 0.5
    uy, ux = np.gradient(bu)
    vy, vx = np.gradient(bv)
    boundary = ux * ux + uy * uy + vx * vx + vy * vy > 0.01 * b2 + 0.002
    return (~(occluded | boundary)).astype(np.float32)


def warping_error(outputs: list[np.ndarray], inputs: list[np.ndarray]) -> float:
    """E_warp of Lai et al. 2018: the mean over t of sum(M (O_t - warp(O_{t+1}))^2) / sum(M),
    O in [0, 1] RGB (H, W, 3) float32, the flow and M from the *input* frames t -> t+1."""
    errs = []
    for t in range(len(outputs) - 1):
        a, b = grey(inputs[t]), grey(inputs[t + 1])
        fw, bw = dis_flow(a, b), dis_flow(b, a)
        m = occlusion_mask(bw, fw)  # pixels of frame t seen in frame t+1
        diff = ((outputs[t] - warp(outputs[t + 1], fw)) ** 2).sum(-1)
        errs.append(float((m * diff).sum() / max(m.sum(), 1.0)))
    return float(np.mean(errs)) if errs else 0.0


class TemporalBlend:
    """Flow-guided blending for feed-forward video: each stylised frame takes
    ``weight`` of the previous *output*, warped into place by the flow between the
    input frames, on the pixels that flow says are not occluded (the rest keep the new
    frame). Feed frames in order; one instance per clip. DIS's ``medium`` preset: ``fast``
    takes a third of the flow's time but, on 120 frames, left bigbuckbunny's E_warp at
    0.504x frame by frame (medium 0.48x) and carphone's style distance at 1.108x (1.098x).

    The flows depend on the input frames only: :meth:`ahead` starts them on a worker
    thread before the frames are stylised, so they overlap with the network (OpenCV and
    onnxruntime or torch release the GIL)."""

    def __init__(self, weight: float = 0.45, *, preset: str = "medium") -> None:
        if not 0 <= weight < 1:
            raise ConfigError(f"temporal weight must be in [0, 1), got {weight}")
        self.weight, self.preset = weight, preset
        self._grey: np.ndarray | None = None
        self._out: np.ndarray | None = None
        self._chain: np.ndarray | None = None  # grey of the last frame given to ahead() or seen()
        self._pending: deque[tuple[np.ndarray, np.ndarray, Future]] = deque()
        self._pool: ThreadPoolExecutor | None = None

    def _motion(self, prev: np.ndarray | None, g: np.ndarray) -> np.ndarray | None:
        """The non-occluded mask times ``weight`` and the backward flow, stacked
        (H, W, 3), from the previous frame's grey to this one's; None on a first frame."""
        if prev is None or prev.shape != g.shape:
            return None
        forward = dis_flow(prev, g, preset=self.preset)
        backward = dis_flow(g, prev, preset=self.preset)
        return np.dstack([occlusion_mask(forward, backward) * self.weight, backward])

    def ahead(self, frames: list[np.ndarray]) -> None:
        """Start the flows of ``frames`` (the next frames, in order, each to be passed
        to this blend once) on a worker thread."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="painterly-flow")
        for frame in frames:
            g = grey(frame)
            self._pending.append((frame, g, self._pool.submit(self._motion, self._chain, g)))
            self._chain = g

    def __call__(self, frame: np.ndarray, styled: np.ndarray) -> np.ndarray:
        """``frame`` the input (H, W, 3) uint8, ``styled`` its stylisation (H, W, 3)
        float32 in [0, 1] -> the blended output, same shape."""
        if self._pending and self._pending[0][0] is frame:
            _, g, job = self._pending.popleft()
            motion = job.result()
        else:
            self._pending.clear()  # out of step with ahead(): compute here
            g = grey(frame)
            motion = self._motion(self._grey, g)
            self._chain = g
        out = styled
        if motion is not None and self._out is not None and self._out.shape == styled.shape:
            m = motion[..., :1]
            out = m * warp(self._out, np.ascontiguousarray(motion[..., 1:])) + (1 - m) * styled
        self._grey, self._out = g, out
        return out

    def seen(self, frame: np.ndarray, output: np.ndarray) -> None:
        """Take ``output`` (H, W, 3) float32 as ``frame``'s result without blending (a
        frame kept from an earlier, interrupted run): the next frame blends with it."""
        self._pending.clear()
        self._grey = self._chain = grey(frame)
        self._out = output
