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
from PIL import Image

from painterly.errors import ConfigError
from painterly.events import Callback
from painterly.faces.detect import Face, FaceDetector, shared_detector
from painterly.faces.face_pass import PORTRAIT_FACE_PASS, FacePass
from painterly.faces.identity import embed, identity_distance, similarity_transform
from painterly.faces.masks import face_mask
from painterly.image import ImageInput, load_image, pil_to_tensor, scaled_size, tensor_to_pil
from painterly.losses import SpatialControl, StyleRegion
from painterly.methods.gatys import Stylizer, StylizeResult

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
        raise ConfigError("selim=True needs a portrait style image, but no face was found in it")
    m = similarity_transform(target.landmarks.as_array(), faces[0].landmarks.as_array())  # output -> style
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
    stylizer: Stylizer, content: Image.Image, result: StylizeResult, faces_out: Sequence[Face], pcfg: PortraitConfig,
) -> int:
    """Re-stylise the regions around small faces (every face with ``face_pass=True``)
    at a higher resolution, face-aware, and blend them in; returns how many."""

    def restyle(crop: torch.Tensor, face: Face) -> torch.Tensor:
        sub = Stylizer(stylizer.style_images, stylizer.config.replace(size=max(crop.shape[-2:])),
                       backbone=stylizer.backbone)
        mask = face_mask([face], crop.shape[-2], crop.shape[-1], device=stylizer.device)
        return sub.stylize(crop, spatial=_spatial(mask, pcfg, pcfg.face_content_weight, None, None)).tensor

    face_pass = FacePass(PORTRAIT_FACE_PASS.replace(below=pcfg.face_pass_below), device=stylizer.device)
    source = pil_to_tensor(content)
    result.tensor = face_pass(restyle, source, result.tensor, [list(faces_out)], force=bool(pcfg.face_pass))
    result.image = tensor_to_pil(result.tensor)
    return face_pass.faces_seen


def _face_notes(faces: Sequence[Face], faces_out: Sequence[Face], pcfg: PortraitConfig) -> list[str]:
    notes: list[str] = []
    if pcfg.face_aware is None and not faces:
        notes.append(f"no face of at least {pcfg.min_face_size:.0f} px found: plain stylisation")
    if pcfg.face_aware is True and not faces:
        notes.append("face_aware=True: no face found, so the whole image was stylised alike")
    for f, fo in zip(faces, faces_out, strict=True):
        if fo.width < 40:
            notes.append(f"small face ({fo.width:.0f} px wide in the output): eyes and mouth may blur; "
                         "the face pass re-stylises it at a higher resolution")
            if f.width < 40:
                notes.append("the face is below 40 px in the photo: identity is hard to keep or measure")
    return notes


def _plain(
    stylizer: Stylizer, image: Image.Image, faces: Sequence[Face], pcfg: PortraitConfig, detector: FaceDetector,
    callback: Callback | None, notes: list[str],
) -> PortraitResult:
    """No face-aware weighting; identity is still measured on the faces there are."""
    result = stylizer.stylize(image, callback=callback)
    reference = image.resize(result.image.size, Image.Resampling.LANCZOS)
    found = faces if faces else (detector(image) if pcfg.face_aware is False else [])
    faces_final = [f.moved(result.image.width / image.width, result.image.height / image.height) for f in found]
    ids = _IdentityMeter(reference, faces_final)(result.image)
    return PortraitResult(result, faces_final, ids, False, notes)


def _keep_identity(
    stylizer: Stylizer, image: Image.Image, result: StylizeResult, ids: list[float | None],
    measure: _IdentityMeter, mask: torch.Tensor, pcfg: PortraitConfig, spatial_for: Any,
    callback: Callback | None,
) -> tuple[StylizeResult, list[float | None], float, str]:
    """Optimise on, each round with twice the content weight on the face and half its
    share of the style, until every face is within ``keep_identity`` (or rounds run out)."""
    assert pcfg.keep_identity is not None
    weight, rounds, round_cfg = pcfg.face_content_weight, 0, pcfg
    while (any(d is None or d > pcfg.keep_identity for d in ids) and rounds < pcfg.keep_identity_rounds
           and not result.interrupted):
        rounds += 1
        weight *= 2.0
        round_cfg = dataclasses.replace(round_cfg, face_style_weight=round_cfg.face_style_weight / 2)
        logger.info("identity distance %s > %.3g: round %d with face content weight %.3g",
                    ", ".join(f"{d:.3f}" if d is not None else "?" for d in ids), pcfg.keep_identity, rounds, weight)
        more = stylizer.stylize(image, callback=callback, spatial=spatial_for(round_cfg, weight), init=result.tensor)
        more.history = result.history + more.history
        more.steps += result.steps
        more.elapsed += result.elapsed
        result = more
        ids = measure(result.image)
    reached = all(d is not None and d <= pcfg.keep_identity for d in ids)
    msg = (f"identity distance {'reached' if reached else 'not reached'}: "
           f"{', '.join(f'{d:.3f}' if d is not None else '?' for d in ids)} vs target {pcfg.keep_identity} "
           f"after {rounds} extra round{'s' if rounds != 1 else ''}")
    return result, ids, weight, msg


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
    detector = detector or shared_detector(pcfg.min_face_size, stylizer.device)
    if faces is None:
        faces = detector(image) if pcfg.face_aware is not False else []
    faces = list(faces)
    h, w = scaled_size(image.height, image.width, stylizer.config.size)
    faces_out = [f.moved(w / image.width, h / image.height) for f in faces]
    notes = _face_notes(faces, faces_out, pcfg)
    for n in notes:
        logger.info("%s", n)
    if not faces or pcfg.face_aware is False:
        return _plain(stylizer, image, faces, pcfg, detector, callback, notes)

    mask = face_mask(faces_out, h, w, device=stylizer.device)
    background = None
    if pcfg.background_style:
        background = Stylizer([pcfg.background_style], stylizer.config, backbone=stylizer.backbone)
    gain = None
    if pcfg.selim:
        warped = _warp_style_face(stylizer.style_images[0], faces_out[0], (w, h), detector)
        gain = (pil_to_tensor(warped, stylizer.device), mask, 0.7, 5.0)

    def spatial_for(cfg: PortraitConfig, weight: float) -> SpatialControl:
        return _spatial(mask, cfg, weight, background, gain)

    result = stylizer.stylize(image, callback=callback, spatial=spatial_for(pcfg, pcfg.face_content_weight))
    measure = _IdentityMeter(image.resize(result.image.size, Image.Resampling.LANCZOS), faces_out)
    do_pass = pcfg.face_pass if pcfg.face_pass is not None else any(
        fo.width < pcfg.face_pass_below for fo in faces_out)
    if do_pass and not result.interrupted:
        passed = _face_pass(stylizer, image, result, faces_out, pcfg)
        notes.append(f"face pass: re-stylised {passed} face region(s) at a higher resolution")
    ids = measure(result.image)
    reached, weight = None, pcfg.face_content_weight
    if pcfg.keep_identity is not None:
        result, ids, weight, msg = _keep_identity(stylizer, image, result, ids, measure, mask, pcfg, spatial_for,
                                                  callback)
        reached = msg.startswith("identity distance reached")
        notes.append(msg)
        logger.info("%s", msg)
    return PortraitResult(result, faces_out, ids, True, notes, reached, weight)
