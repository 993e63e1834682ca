"""Portrait stylisation that keeps the sitter recognisable.

Around :class:`~painterly.methods.gatys.Stylizer`: find faces (MTCNN), build a feathered
face mask from the landmarks, weight the content loss up inside it and set the style
strength separately for face and background (optionally a different background style),
optionally use Selim et al. 2016 gain maps when the style is a portrait, measure the
identity distance (dlib embeddings) between input and output faces, keep optimising
until it is small enough (``keep_identity``), and re-stylise small faces at a higher
resolution (``face_pass``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from painterly.errors import ConfigError
from painterly.faces.detect import Face, FaceDetector
from painterly.faces.identity import _similarity, embed, identity_distance
from painterly.faces.masks import face_mask
from painterly.image import load_image, pil_to_tensor, tensor_to_pil
from painterly.image.io import ImageInput
from painterly.methods.gatys import Callback, Stylizer, StylizeResult, _scaled_size
from painterly.methods.objective import SpatialControl, StyleRegion

__all__ = ["PortraitConfig", "PortraitResult", "stylize_portrait"]

logger = logging.getLogger("painterly")


@dataclass(kw_only=True)
class PortraitConfig:
    """Face-aware options (the CLI's ``--face-*`` flags).

    ``face_aware``: None = on when a face is found. Weights are non-negative.
    """

    face_aware: bool | None = None
    face_content_weight: float = 4.0  # content-loss multiplier inside the face mask
    face_style_weight: float = 0.5  # style strength on the face
    background_style_weight: float = 1.0  # style strength elsewhere
    background_style: str | None = None  # another style image for the background
    selim: bool = False  # portrait style: gain maps from the style face warped onto ours
    keep_identity: float | None = None  # optimise on until the identity distance is <= this
    keep_identity_rounds: int = 3
    face_pass: bool | None = None  # None = automatic for faces under face_pass_below px
    face_pass_below: int = 128
    min_face_size: float = 20.0

    def __post_init__(self) -> None:
        for name in ("face_content_weight", "face_style_weight", "background_style_weight"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise ConfigError(f"{name.replace('_', '-')} must be a finite number >= 0, got {v!r}")
        if self.keep_identity is not None and not (self.keep_identity > 0):
            raise ConfigError(f"keep-identity must be > 0, got {self.keep_identity}")
        if self.min_face_size < 12:
            raise ConfigError(f"min-face-size must be at least 12 pixels, got {self.min_face_size}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class PortraitResult:
    result: StylizeResult
    faces: list[Face]  # in output pixels
    identity: list[float | None]  # per face, input vs output embedding distance
    face_aware: bool
    notes: list[str] = field(default_factory=list)
    keep_identity_reached: bool | None = None
    face_content_weight: float | None = None  # the weight finally used

    @property
    def image(self) -> Image.Image:
        return self.result.image


class _IdentityMeter:
    """Identity distances of ``faces`` between ``reference`` and later images; the
    reference embeddings are computed once."""

    def __init__(self, reference: Image.Image, faces: Sequence[Face]) -> None:
        self.reference, self.faces = reference, list(faces)
        self._embeddings: list[np.ndarray | None] | None = None

    def __call__(self, output: Image.Image) -> list[float | None]:
        if self._embeddings is None:
            self._embeddings = [self._try(embed, self.reference, f) for f in self.faces]
        return [None if ref is None else self._try(identity_distance, self.reference, output, f, reference=ref)
                for f, ref in zip(self.faces, self._embeddings, strict=True)]

    @staticmethod
    def _try(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # a measurement must not sink the run
            logger.info("identity distance not measured: %s", exc)
            return None


def _warp_style_face(style: Image.Image, target: Face, size: tuple[int, int], detector: FaceDetector) -> Image.Image:
    """Warp ``style`` so its main face lands on ``target``'s landmarks (similarity)."""
    faces = detector(style)
    if not faces:
        raise ConfigError("--selim needs a portrait style image, but no face was found in it")
    m = _similarity(target.landmarks.as_array(), faces[0].landmarks.as_array())  # output -> style
    return style.transform(size, Image.Transform.AFFINE, tuple(m.flatten()), Image.Resampling.BILINEAR)


def _spatial(
    mask: torch.Tensor, pcfg: PortraitConfig, face_weight: float,
    background: Stylizer | None, gain: tuple[torch.Tensor, torch.Tensor, float, float] | None,
) -> SpatialControl:
    if background is not None:
        # two styles: the face keeps the main style, the rest matches the background style
        regions: tuple[StyleRegion, ...] = (
            StyleRegion(mask, pcfg.face_style_weight, None),
            StyleRegion(1.0 - mask, pcfg.background_style_weight, background),
        )
    else:
        # one style, its statistics taken over position weights: the face takes part in
        # them with face_style_weight, the rest with background_style_weight. Matching
        # the face region alone to the painting's statistics would recolour the skin.
        top = max(pcfg.face_style_weight, pcfg.background_style_weight, 1e-8)
        weights = (pcfg.background_style_weight * (1.0 - mask) + pcfg.face_style_weight * mask) / top
        regions = (StyleRegion(weights.clamp_min(1e-3), top, None),)
    return SpatialControl(content_weight_map=1.0 + (face_weight - 1.0) * mask, style_regions=regions, content_gain=gain)


def _face_pass(
    stylizer: Stylizer, content: Image.Image, output: torch.Tensor, face: Face, face_out: Face, mask: torch.Tensor,
    pcfg: PortraitConfig,
) -> torch.Tensor:
    """Re-stylise the region around one face at a higher resolution and blend it back
    (low frequencies from the main result, so the seam does not show)."""
    h, w = output.shape[-2:]
    cx, cy = (face_out.box[0] + face_out.box[2]) / 2, (face_out.box[1] + face_out.box[3]) / 2
    half = max(face_out.width, face_out.height) * 1.2
    x1, y1 = max(0, int(cx - half)), max(0, int(cy - half))
    x2, y2 = min(w, int(cx + half)), min(h, int(cy + half))
    if x2 - x1 < 8 or y2 - y1 < 8:
        return output
    sx, sy = content.width / w, content.height / h
    crop = content.crop((round(x1 * sx), round(y1 * sy), round(x2 * sx), round(y2 * sy)))
    side = min(384, max(256, 2 * max(x2 - x1, y2 - y1)))
    sub = Stylizer(stylizer.style_images, stylizer.config.replace(size=side), backbone=stylizer.backbone)
    ch, cw = _scaled_size(crop.height, crop.width, side)
    ox, oy = round(x1 * sx), round(y1 * sy)
    local = face.moved(cw / crop.width, ch / crop.height, -ox, -oy)
    crop_mask = face_mask([local], ch, cw, device=stylizer.device)
    spatial = _spatial(crop_mask, pcfg, pcfg.face_content_weight, None, None)
    styled = sub.stylize(crop, spatial=spatial).tensor.to(output.device)
    styled = F.interpolate(styled, size=(y2 - y1, x2 - x1), mode="area")
    region = output[..., y1:y2, x1:x2]
    k = max(3, (min(y2 - y1, x2 - x1) // 8) | 1)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(x, [k // 2] * 4, mode="replicate"), k, 1)

    merged = (styled - blur(styled) + blur(region)).clamp(0, 1)
    m = mask[..., y1:y2, x1:x2].to(output.device)
    out = output.clone()
    out[..., y1:y2, x1:x2] = m * merged + (1 - m) * region
    return out


def stylize_portrait(
    stylizer: Stylizer,
    content: ImageInput,
    pcfg: PortraitConfig | None = None,
    *,
    callback: Callback | None = None,
    detector: FaceDetector | None = None,
    faces: Sequence[Face] | None = None,
) -> PortraitResult:
    """Stylise ``content`` with ``stylizer``'s style, keeping faces recognisable.

    ``faces`` (in ``content``'s pixels) skips detection when the caller has them.
    """
    pcfg = pcfg or PortraitConfig()
    image = load_image(content)
    detector = detector or FaceDetector(min_face_size=pcfg.min_face_size, device=stylizer.device)
    notes: list[str] = []
    if faces is None:
        faces = detector(image) if pcfg.face_aware is not False else []
    faces = list(faces)
    h, w = _scaled_size(image.height, image.width, stylizer.config.size)
    faces_out = [f.moved(w / image.width, h / image.height) for f in faces]
    if pcfg.face_aware is None and not faces:
        notes.append(f"no face of at least {pcfg.min_face_size:.0f} px found: plain stylisation")
    if pcfg.face_aware is True and not faces:
        notes.append("--face-aware: no face found, so the whole image was stylised alike")
    use_faces = bool(faces) and pcfg.face_aware is not False
    for f, fo in zip(faces, faces_out, strict=True):
        if fo.width < 40:
            notes.append(f"small face ({fo.width:.0f} px wide in the output): eyes and mouth may blur; "
                         "the face pass re-stylises it at a higher resolution")
            if f.width < 40:
                notes.append("the face is below 40 px in the photo: identity is hard to keep or measure")
    for n in notes:
        logger.info("%s", n)
    if not use_faces:
        result = stylizer.stylize(image, callback=callback)
        reference = image.resize(result.image.size, Image.Resampling.LANCZOS)
        found = faces if faces else (detector(image) if pcfg.face_aware is False else [])
        faces_final = [f.moved(result.image.width / image.width, result.image.height / image.height)
                       for f in found]
        ids = _IdentityMeter(reference, faces_final)(result.image)
        return PortraitResult(result, faces_final, ids, False, notes)

    device = stylizer.device
    mask = face_mask(faces_out, h, w, device=device)
    background = None
    if pcfg.background_style:
        background = Stylizer([pcfg.background_style], stylizer.config, backbone=stylizer.backbone)
    gain = None
    if pcfg.selim:
        warped = _warp_style_face(stylizer.style_images[0], faces_out[0], (w, h), detector)
        gain = (pil_to_tensor(warped, device), mask, 0.7, 5.0)
    weight = pcfg.face_content_weight
    spatial = _spatial(mask, pcfg, weight, background, gain)
    result = stylizer.stylize(image, callback=callback, spatial=spatial)
    identities = _IdentityMeter(image.resize(result.image.size, Image.Resampling.LANCZOS), faces_out)
    do_pass = pcfg.face_pass if pcfg.face_pass is not None else any(
        fo.width < pcfg.face_pass_below for fo in faces_out)
    if do_pass and not result.interrupted:
        tensor = result.tensor
        passed = 0
        for f, fo in zip(faces, faces_out, strict=True):
            if pcfg.face_pass or fo.width < pcfg.face_pass_below:
                tensor = _face_pass(stylizer, image, tensor, f, fo, mask.cpu(), pcfg)
                passed += 1
        result.tensor = tensor
        result.image = tensor_to_pil(tensor)
        notes.append(f"face pass: re-stylised {passed} face region(s) at a higher resolution")
    ids = identities(result.image)
    reached = None
    if pcfg.keep_identity is not None:
        rounds = 0
        round_cfg = pcfg
        while (any(d is None or d > pcfg.keep_identity for d in ids) and rounds < pcfg.keep_identity_rounds
               and not result.interrupted):
            rounds += 1
            # each round: twice the content weight on the face, half its share of the style
            weight *= 2.0
            round_cfg = dataclasses.replace(round_cfg, face_style_weight=round_cfg.face_style_weight / 2)
            logger.info("identity distance %s > %.3g: round %d with face content weight %.3g",
                        ", ".join(f"{d:.3f}" if d is not None else "?" for d in ids), pcfg.keep_identity,
                        rounds, weight)
            spatial = _spatial(mask, round_cfg, weight, background, gain)
            more = stylizer.stylize(image, callback=callback, spatial=spatial, init=result.tensor)
            more.history = result.history + more.history
            more.steps += result.steps
            more.elapsed += result.elapsed
            result = more
            ids = identities(result.image)
        reached = all(d is not None and d <= pcfg.keep_identity for d in ids)
        msg = (f"identity distance {'reached' if reached else 'not reached'}: "
               f"{', '.join(f'{d:.3f}' if d is not None else '?' for d in ids)} vs target {pcfg.keep_identity} "
               f"after {rounds} extra round{'s' if rounds != 1 else ''}")
        notes.append(msg)
        logger.info("%s", msg)
    return PortraitResult(result, faces_out, ids, True, notes, reached, weight)
