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
from painterly.faces.detection import Face, FaceDetector, shared_detector
from painterly.faces.face_pass import PORTRAIT_FACE_PASS, FacePass, FacePassConfig
from painterly.faces.identity import IdentityMeter, similarity_transform
from painterly.faces.masks import face_mask, face_parts_mask
from painterly.image import ImageInput, load_image, pil_to_tensor, scaled_size, tensor_to_pil
from painterly.losses import SpatialControl, StyleRegion
from painterly.methods.gatys import Stylizer, StylizeResult

__all__ = ["PortraitConfig", "PortraitResult", "face_aware_spatial", "stylize_portrait"]

logger = logging.getLogger("painterly")


@dataclass(kw_only=True)
class PortraitConfig:
    """Face-aware options (the CLI's ``--face-*`` flags). Weights are non-negative.

    ``face_aware``: None = on when a face is found. ``face_paint`` (0..1): how painted
    the face is. At 0 the face keeps close to the photo (content x
    ``face_content_weight``, style x ``face_style_weight``: the pre-0.2 default); at 1
    the skin, hair and outline take the style like the rest of the picture
    (``painted_face_style``) while the eyes, brows, nose and mouth keep their content
    weight (``face_parts_weight``), so the features stay where they are.
    ``identity_budget``: the dlib distance the painting may spend. It is measured
    before the last scale (the face paint is lowered there if the coarse result
    already spends too much) and at the end (extra rounds with less paint, at most
    ``budget_rounds``, while a face is over). None: no measurement-driven changes.
    """

    face_aware: bool | None = None
    face_paint: float = 1.0
    identity_budget: float | None = 0.35
    budget_rounds: int = 3
    face_content_weight: float = 4.0  # content-loss multiplier on the face at face_paint 0
    face_style_weight: float = 0.5  # style strength on the face at face_paint 0
    painted_face_style: float = 1.0  # style strength on the face at face_paint 1
    face_parts_weight: float = 4.0  # content-loss multiplier on eyes, brows, nose and mouth
    background_style_weight: float = 1.0  # style strength elsewhere
    background_style: str | None = None  # another style image for the background
    selim: bool = False  # portrait style: gain maps from the style face warped onto ours
    keep_identity: float | None = None  # the older name of identity_budget (when given, it wins)
    face_pass: bool | None = None  # None = automatic for faces under face_pass_below px
    face_pass_below: int = 128
    face_style_boost: float = 2.0  # the most the unspent identity budget may raise the face's style
    face_pass_iterations: int | None = 30  # one scale from the photo crop; None: a whole coarse-to-fine run
    min_face_size: float = 20.0

    def __post_init__(self) -> None:
        for name in ("face_content_weight", "face_style_weight", "background_style_weight", "painted_face_style",
                     "face_parts_weight", "face_style_boost"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not np.isfinite(v) or v < 0:
                raise ConfigError(f"{name.replace('_', '-')} must be a finite number >= 0, got {v!r}")
        if not isinstance(self.face_paint, (int, float)) or not 0.0 <= self.face_paint <= 1.0:
            raise ConfigError(f"face-paint must be between 0 and 1, got {self.face_paint!r}")
        if self.keep_identity is not None:
            if not (self.keep_identity > 0) or not np.isfinite(self.keep_identity):
                raise ConfigError(f"keep-identity must be a finite number > 0, got {self.keep_identity}")
            self.identity_budget = self.keep_identity
        budget = self.identity_budget
        if budget is not None and (not (budget > 0) or not np.isfinite(budget)):
            raise ConfigError(f"identity-budget must be a finite number > 0, got {self.identity_budget}")
        if self.face_style_boost < 1:
            raise ConfigError(f"face-style-boost must be >= 1 (1: off), got {self.face_style_boost}")
        if self.face_pass_iterations is not None and self.face_pass_iterations < 1:
            raise ConfigError(f"face-pass-iterations must be >= 1, got {self.face_pass_iterations}")
        if self.budget_rounds < 0:
            raise ConfigError(f"budget-rounds must be >= 0, got {self.budget_rounds}")
        if self.min_face_size < 12:
            raise ConfigError(f"min-face-size must be at least 12 pixels, got {self.min_face_size}")

    def weights(self, paint: float) -> tuple[float, float, float]:
        """(content on the skin, style on the face, content on the features) at ``paint``."""
        skin = (1 - paint) * self.face_content_weight + paint * 1.0
        style = (1 - paint) * self.face_style_weight + paint * self.painted_face_style
        parts = max(skin, (1 - paint) * self.face_content_weight + paint * self.face_parts_weight)
        return skin, style, parts

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class PortraitResult:
    result: StylizeResult
    faces: list[Face]  # in output pixels
    identity: list[float | None]  # per face, input vs output embedding distance
    face_aware: bool
    notes: list[str] = field(default_factory=list)
    keep_identity_reached: bool | None = None  # every face within the identity budget (None: no budget)
    face_content_weight: float | None = None  # the content multiplier finally used on the face's features
    face_paint: float | None = None  # the face paint finally used
    identity_before_last_scale: float | None = None  # what the identity budget saw there (worst face)
    face_style_boost: float = 1.0  # the face's extra style at the last scale (unspent identity budget)

    @property
    def image(self) -> Image.Image:
        return self.result.image


def _warp_style_face(style: Image.Image, target: Face, size: tuple[int, int], detector: FaceDetector) -> Image.Image:
    """Warp ``style`` so its main face lands on ``target``'s landmarks (similarity)."""
    faces = detector(style)
    if not faces:
        raise ConfigError("selim=True needs a portrait style image, but no face was found in it")
    m = similarity_transform(target.landmarks.as_array(), faces[0].landmarks.as_array())  # output -> style
    return style.transform(size, Image.Transform.AFFINE, tuple(m.flatten()), Image.Resampling.BILINEAR)


@dataclass
class _FaceMasks:
    """The face ellipses and the features inside them (1, 1, H, W), at one size."""

    face: torch.Tensor
    parts: torch.Tensor

    @staticmethod
    def of(faces: Sequence[Face], h: int, w: int, device: torch.device | str) -> _FaceMasks:
        face = face_mask(faces, h, w, device=device)
        return _FaceMasks(face, face_parts_mask(faces, h, w, device=device) * face)


def _spatial(
    masks: _FaceMasks, pcfg: PortraitConfig, paint: float, boost: float = 1.0,
    background: Stylizer | None = None, gain: tuple[torch.Tensor, torch.Tensor, float, float] | None = None,
    style_boost: float = 1.0,
) -> SpatialControl:
    """Content weights and style regions for a face paint of ``paint``; ``boost``
    multiplies the content on the face (extra rounds once the paint is 0),
    ``style_boost`` the style on it (the identity budget left unspent)."""
    skin, face_style, parts = pcfg.weights(paint)
    skin, parts, face_style = skin * boost, parts * boost, face_style * style_boost
    mask = masks.face
    content_map = 1.0 + (skin - 1.0) * mask + (parts - skin) * masks.parts
    if background is not None:
        # two styles: the face keeps the main style, the rest matches the background style
        regions: tuple[StyleRegion, ...] = (
            StyleRegion(mask, face_style, None),
            StyleRegion(1.0 - mask, pcfg.background_style_weight, background),
        )
    else:
        # one style, its statistics taken over position weights: the face takes part in
        # them with its style strength, the rest with background_style_weight. Matching
        # the face region alone to the painting's statistics would recolour the skin.
        top = max(face_style, pcfg.background_style_weight, 1e-8)
        weights = (pcfg.background_style_weight * (1.0 - mask) + face_style * mask) / top
        regions = (StyleRegion(weights.clamp_min(1e-3), top, None),)
    return SpatialControl(content_weight_map=content_map, style_regions=regions, content_gain=gain)


def face_aware_spatial(faces: Sequence[Face], h: int, w: int, device: torch.device | str,
                       pcfg: PortraitConfig | None = None) -> SpatialControl:
    """The default portrait weighting (content and style on the face, features held)
    for ``faces`` at (h, w), without the identity measurements: video frames."""
    cfg = pcfg or PortraitConfig()
    return _spatial(_FaceMasks.of(faces, h, w, device), cfg, cfg.face_paint)


def _worst(ids: Sequence[float | None]) -> float | None:
    known = [d for d in ids if d is not None]
    return max(known) if known else None


# identity spent before the last scale, in budgets, below which the face takes more style:
# the final distance ran 0.2-0.9x that measurement when a face pass follows (it restores the
# features), 0.8-1.1x without one (biden2's 186 px face at 512 px; any face at 4096 px)
_SLACK, _SLACK_NO_PASS = 1.35, 0.95


class _BudgetSchedule:
    """Before the last scale, measure the identity the coarse scales have spent (on
    the image the last scale starts from): far over the budget and with no face pass to
    follow, lower the face paint (the last scale then holds the features harder); well
    under it, at full paint,
    raise the style on the face (up to ``face_style_boost``x), so the budget is spent
    on painting. dlib only measures here; it is never part of the objective."""

    def __init__(self, pcfg: PortraitConfig, photo: Image.Image, faces: Sequence[Face], spatial_for: Any) -> None:
        self.pcfg, self.photo, self.faces, self.spatial_for = pcfg, photo, list(faces), spatial_for
        self.paint = pcfg.face_paint
        self.face_pass_follows = _face_pass_follows(pcfg, self.faces, photo.height, photo.width)
        self.style_boost = 1.0
        self.measured: float | None = None
        self.coarse_size: tuple[int, int] | None = None  # (W, H) of the scale before the last

    def __call__(self, scale: int, n_scales: int, image: torch.Tensor) -> SpatialControl | None:
        budget = self.pcfg.identity_budget
        if scale == n_scales - 2:
            self.coarse_size = (image.shape[-1], image.shape[-2])
        if budget is None or scale != n_scales - 1 or n_scales < 2 or self.paint == 0 or self.coarse_size is None:
            return None
        # the image comes up from the coarser scale, blurred: compare it with the photo
        # blurred the same way, or the blur alone would count as lost identity
        size = (image.shape[-1], image.shape[-2])
        reference = self.photo.resize(self.coarse_size, Image.Resampling.BOX).resize(size, Image.Resampling.BICUBIC)
        self.measured = _worst(IdentityMeter(reference, self.faces)(tensor_to_pil(image)))
        if self.measured is None:
            return None
        # measured here, the distance ran 1.2-1.6x the final one (obama*, biden2 x the_scream
        # at face paint 1), so only a coarse result far over the budget loses paint here;
        # the final measurement and its extra rounds hold the budget. When a face pass
        # follows, it repaints the face from the photo's crop at a higher resolution and this
        # blurred small face says little (0.62-0.77 here, 0.22-0.33 at the end on 14 pairs):
        # the paint stays and only the final measurement takes it back
        spent = self.measured / budget
        if spent > 1.6 and not self.face_pass_follows:
            self.paint = max(0.0, self.paint * (1.0 - min(1.0, (spent - 1.6) / 0.8)))
            logger.info("identity distance %.3f before the last scale (budget %.2f): face paint %.2f",
                        self.measured, budget, self.paint)
        elif spent < (slack := _SLACK if self.face_pass_follows else _SLACK_NO_PASS) and self.paint == 1.0:
            # well under the budget: the face may take more style than the rest (a face
            # is smoother than a painting)
            self.style_boost = min(self.pcfg.face_style_boost, 1.0 + (slack - spent) / 0.35)
            logger.info("identity distance %.3f before the last scale (budget %.2f): face style x%.2f",
                        self.measured, budget, self.style_boost)
        return self.spatial_for(self.paint, 1.0, self.style_boost)


def _face_pass_config(pcfg: PortraitConfig) -> FacePassConfig:
    return PORTRAIT_FACE_PASS.replace(below=pcfg.face_pass_below)


def _face_pass_follows(pcfg: PortraitConfig, faces: Sequence[Face], h: int, w: int) -> bool:
    """Whether the face pass will re-stylise a face of ``faces`` (output pixels) in an
    output of ``h`` x ``w``: by the pass's own rule (:meth:`FacePassConfig.window`), so
    the budget's schedule never counts on a pass that then finds the face not worth
    enlarging (a 110 px face whose crop is already 372 px: zoom 1.03)."""
    if pcfg.face_pass is False:
        return False
    cfg = _face_pass_config(pcfg)
    return any(cfg.window(f, h, w, force=bool(pcfg.face_pass)) is not None for f in faces)


def _face_pass(
    stylizer: Stylizer, content: Image.Image, result: StylizeResult, faces_out: Sequence[Face], pcfg: PortraitConfig,
    paint: float, style_boost: float,
) -> int:
    """Re-stylise the regions around small faces (every face with ``face_pass=True``)
    at a higher resolution, face-aware (with the last scale's face paint and style), and
    blend them in; returns how many."""

    def restyle(crop: torch.Tensor, face: Face) -> torch.Tensor:
        config = stylizer.config.replace(size=max(crop.shape[-2:]))
        init = None
        if pcfg.face_pass_iterations is not None:  # one scale from the photo: the detail only is kept
            config, init = config.replace(iterations=pcfg.face_pass_iterations), crop
        sub = Stylizer(stylizer.style_images, config, backbone=stylizer.backbone)
        masks = _FaceMasks.of([face], crop.shape[-2], crop.shape[-1], stylizer.device)
        return sub.stylize(crop, spatial=_spatial(masks, pcfg, paint, style_boost=style_boost), init=init).tensor

    face_pass = FacePass(_face_pass_config(pcfg), device=stylizer.device)
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
    ids = IdentityMeter(reference, faces_final)(result.image)
    return PortraitResult(result, faces_final, ids, False, notes)


def _within_budget(
    stylizer: Stylizer, image: Image.Image, result: StylizeResult, ids: list[float | None],
    measure: IdentityMeter, pcfg: PortraitConfig, paint: float, spatial_for: Any, callback: Callback | None,
) -> tuple[StylizeResult, list[float | None], float, float, bool, str]:
    """While a face is over the budget: optimise on from the result, each round with
    half a step less paint and half the last scale's iterations (at 0 paint: twice
    the content on the face and the whole last scale). Returns the result,
    the distances, the paint and content boost used, whether every face is within the
    budget, and a note."""
    assert pcfg.identity_budget is not None
    budget, rounds, boost = pcfg.identity_budget, 0, 1.0
    # a round that takes paint back continues from the result: half the final scale's iterations do
    rounds_stylizer = stylizer.with_config(stylizer.config.replace(iterations=max(1, stylizer.config.iterations // 2)))
    # a face too small or too blurred to measure (None) gets no rounds: they would not tell
    while (any(d is not None and d > budget for d in ids) and rounds < pcfg.budget_rounds
           and not result.interrupted):
        rounds += 1
        if paint > 0:
            paint = max(0.0, paint - 0.5)
        else:
            boost *= 2.0
        logger.info("identity distance %s > %.3g: round %d with face paint %.2f, face content x%.3g",
                    ", ".join(f"{d:.3f}" if d is not None else "?" for d in ids), budget, rounds, paint, boost)
        # once the paint is spent, the features need the whole last scale to come back
        runner = rounds_stylizer if boost == 1.0 else stylizer
        more = runner.stylize(image, callback=callback, spatial=spatial_for(paint, boost), init=result.tensor)
        more.history = result.history + more.history
        more.steps += result.steps
        more.elapsed += result.elapsed
        result = more
        ids = measure(result.image)
    reached = all(d is not None and d <= budget for d in ids)
    msg = (f"identity distance {'within' if reached else 'over'} the budget: "
           f"{', '.join(f'{d:.3f}' if d is not None else '?' for d in ids)} vs {budget} "
           f"after {rounds} extra round{'s' if rounds != 1 else ''} (face paint {paint:.2f})")
    return result, ids, paint, boost, reached, msg


def stylize_portrait(
    stylizer: Stylizer,
    content: ImageInput,
    pcfg: PortraitConfig | None = None,
    *,
    callback: Callback | None = None,
    detector: FaceDetector | None = None,
    faces: Sequence[Face] | None = None,
) -> PortraitResult:
    """Stylise ``content`` with ``stylizer``'s style: faces painted as far as
    ``pcfg.face_paint`` and the identity budget allow.

    ``faces`` (in ``content``'s pixels) skips detection when the caller has them.
    """
    pcfg = pcfg or PortraitConfig()
    image = load_image(content)
    detector = detector or shared_detector(pcfg.min_face_size, stylizer.device)
    if faces is None:
        faces = detector(image) if pcfg.face_aware is not False else []
    faces = list(faces)
    # the size the run will produce (fit_memory may shrink it): masks and measurements use it
    h, w = stylizer.check_memory(*scaled_size(image.height, image.width, stylizer.config.size))
    faces_out = [f.moved(w / image.width, h / image.height) for f in faces]
    notes = _face_notes(faces, faces_out, pcfg)
    for n in notes:
        logger.info("%s", n)
    if not faces or pcfg.face_aware is False:
        return _plain(stylizer, image, faces, pcfg, detector, callback, notes)

    masks = _FaceMasks.of(faces_out, h, w, stylizer.device)
    background = None
    if pcfg.background_style:
        background = Stylizer([pcfg.background_style], stylizer.config, backbone=stylizer.backbone)
    gain = None
    if pcfg.selim:
        warped = _warp_style_face(stylizer.style_images[0], faces_out[0], (w, h), detector)
        gain = (pil_to_tensor(warped, stylizer.device), masks.face, 0.7, 5.0)

    def spatial_for(paint: float, boost: float, style_boost: float = 1.0) -> SpatialControl:
        return _spatial(masks, pcfg, paint, boost, background, gain, style_boost)

    photo = image.resize((w, h), Image.Resampling.LANCZOS)
    measure = IdentityMeter(photo, faces_out)
    schedule = _BudgetSchedule(pcfg, photo, faces_out, spatial_for)
    result = stylizer.stylize(image, callback=callback, spatial=spatial_for(pcfg.face_paint, 1.0), schedule=schedule)
    paint, boost = schedule.paint, 1.0
    if schedule.face_pass_follows and not result.interrupted:
        passed = _face_pass(stylizer, image, result, faces_out, pcfg, paint, schedule.style_boost)
        notes.append(f"face pass: re-stylised {passed} face region(s) at a higher resolution")
    ids = measure(result.image)
    reached = None
    if pcfg.identity_budget is not None:
        result, ids, paint, boost, reached, msg = _within_budget(stylizer, image, result, ids, measure, pcfg,
                                                                 paint, spatial_for, callback)
        notes.append(msg)
        logger.info("%s", msg)
    parts_weight = pcfg.weights(paint)[2] * boost
    return PortraitResult(result, faces_out, ids, True, notes, reached, parts_weight, paint, schedule.measured,
                          schedule.style_boost)
