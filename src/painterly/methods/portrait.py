"""Portrait stylisation that keeps the sitter recognisable.

Around :class:`~painterly.methods.gatys.Stylizer`: find faces (MTCNN), build a feathered
face mask from the landmarks, weight the content loss up inside it and set the style
strength separately for face and background (optionally a different background style),
optionally use Selim et al. 2016 gain maps when the style is a portrait, measure the
identity distance (dlib embeddings) between input and output faces, keep optimising
until it is small enough (``keep_identity``), and re-stylise small faces at a higher
resolution (``face_pass``). The options live in :mod:`~painterly.methods.portrait_config`,
the budget's schedule before the last scale in :mod:`~painterly.methods.portrait_budget`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from painterly.errors import ConfigError
from painterly.events import Callback
from painterly.faces.detection import Face, FaceDetector, detect_on_copy, shared_detector
from painterly.faces.face_pass import FacePass
from painterly.faces.identity import IdentityMeter, similarity_transform
from painterly.faces.masks import face_mask, face_parts_mask
from painterly.image import ImageInput, load_image, pil_to_tensor, scaled_size, tensor_to_pil
from painterly.losses import SpatialControl, StyleRegion
from painterly.methods.gatys import Stylizer, StylizeResult
from painterly.methods.portrait_budget import BudgetSchedule, face_pass_config
from painterly.methods.portrait_config import PortraitConfig

__all__ = ["PortraitConfig", "PortraitResult", "face_aware_spatial", "find_faces", "stylize_portrait"]

logger = logging.getLogger("painterly")


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


# faces are looked for on a copy of the photo at most this many times the output's long side
_DETECT_OVER_OUTPUT = 2.0


def find_faces(stylizer: Stylizer, image: Image.Image, detector: FaceDetector) -> list[Face]:
    """The faces of ``image`` (its pixels, best score first) that matter for a run of
    ``stylizer``: MTCNN on a copy whose long side is at most twice the output's
    (``_DETECT_OVER_OUTPUT``), never enlarged. A 12 MP phone photo took 4.4 s at full
    resolution (about 0.35 s per megapixel on 2 cores) for a 512 px output; on the
    1024 px copy it takes about 0.2 s. A face is then found down to half the
    detector's ``min_face_size`` in output pixels (10 px by default), which is below
    what any setting here can keep recognisable."""
    h, w = scaled_size(image.height, image.width, stylizer.config.size)
    return detect_on_copy(detector, image, _DETECT_OVER_OUTPUT * max(h, w) / max(image.height, image.width))


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

    face_pass = FacePass(face_pass_config(pcfg), device=stylizer.device)
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
    found = faces if faces else (find_faces(stylizer, image, detector) if pcfg.face_aware is False else [])
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
        faces = find_faces(stylizer, image, detector) if pcfg.face_aware is not False else []
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
    schedule = BudgetSchedule(pcfg, photo, faces_out, spatial_for)
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
