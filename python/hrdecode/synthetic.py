"""Synthetic multi-person scenes rendered as HigherHRNet-style network outputs.

No model weights or datasets are needed: :func:`make_scene` draws people from a 2-D
skeleton template, renders them into per-joint heatmaps and associative-embedding tag
maps the way a bottom-up network would output them, and returns the ground truth.
:func:`to_coco` turns scenes into a COCO keypoints ground-truth dict.

Shape legend used throughout:

* ``N`` batch size (number of scenes)
* ``K`` joints (channels)
* ``H``, ``W`` map height and width in pixels
* ``L`` tag (embedding) dimension
* ``P`` people in a scene

Coordinates are *pixel-index* coordinates: ``x`` is the (sub-pixel) column index and
``y`` the row index of a Gaussian centre, so a peak at ``(x, y) = (3.0, 5.0)`` has its
maximum exactly at ``heatmaps[k, 5, 3]``.

Everything is deterministic given ``SceneConfig.seed`` (a private
``np.random.default_rng(seed)`` is used; no global state is read or written).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import statistics
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "COCO_KEYPOINT_NAMES",
    "COCO_SIGMAS",
    "COCO_SKELETON",
    "Scene",
    "SceneConfig",
    "make_batch",
    "make_scene",
    "template",
    "to_coco",
]

FloatArray = npt.NDArray[np.float32]
F64Array = npt.NDArray[np.float64]

# --------------------------------------------------------------------------------------
# COCO constants
# --------------------------------------------------------------------------------------

COCO_KEYPOINT_NAMES: Tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
"""The 17 COCO keypoint names, in COCO channel order."""

COCO_SKELETON: Tuple[Tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
    (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)  # fmt: skip
"""COCO person skeleton: 1-based keypoint index pairs, exactly as in the COCO annotations."""

COCO_SIGMAS: Tuple[float, ...] = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)  # fmt: skip
"""Per-keypoint OKS sigmas of the COCO keypoint evaluation (``pycocotools``)."""

# COCO-like template, in units of the person height: x to the image right, y down, the
# top of the head at y = 0 and the soles at y = 1. "left" is the person's left, which is
# on the image right for a person facing the camera. The third column is the per-joint
# positional jitter (std, fraction of height) that varies the limb poses.
_COCO_TEMPLATE: Tuple[Tuple[float, float, float], ...] = (
    (0.000, 0.060, 0.010),  # nose
    (0.022, 0.042, 0.008),  # left_eye
    (-0.022, 0.042, 0.008),  # right_eye
    (0.052, 0.055, 0.010),  # left_ear
    (-0.052, 0.055, 0.010),  # right_ear
    (0.110, 0.190, 0.015),  # left_shoulder
    (-0.110, 0.190, 0.015),  # right_shoulder
    (0.150, 0.350, 0.040),  # left_elbow
    (-0.150, 0.350, 0.040),  # right_elbow
    (0.170, 0.490, 0.070),  # left_wrist
    (-0.170, 0.490, 0.070),  # right_wrist
    (0.075, 0.520, 0.015),  # left_hip
    (-0.075, 0.520, 0.015),  # right_hip
    (0.085, 0.750, 0.030),  # left_knee
    (-0.085, 0.750, 0.030),  # right_knee
    (0.085, 0.970, 0.040),  # left_ankle
    (-0.085, 0.970, 0.040),  # right_ankle
)

_BORDER_PROBABILITY = 0.1  # chance that a person is placed straddling the map border
_PLACEMENT_TRIES = 30  # candidate placements per person (best separated one is kept)
_TAG_CELL = 16  # pixel spacing of the coarse grid of the smooth tag background
_SPURIOUS_AMPLITUDE = (0.1, 0.6)
_FLIP_TAG_STD = 0.05  # person-level flip-tag offset, as a fraction of tag_spacing


def template(num_joints: int) -> Tuple[F64Array, F64Array]:
    """Return the 2-D skeleton template for ``num_joints`` joints.

    For ``K == 17`` this is the COCO person template; otherwise joints lie on a closed
    ring (an upright ellipse, consecutive joints adjacent), and a single joint sits at
    the centre.

    Returns:
        ``(xy, jitter)``: ``xy`` of shape (K, 2) holds ``(x, y)`` offsets from the
        person centre in units of the person height (y down); ``jitter`` of shape (K,)
        holds the per-joint positional noise std in the same units.
    """
    _check_int("num_joints", num_joints, minimum=1)
    if num_joints == 17:
        arr = np.asarray(_COCO_TEMPLATE, dtype=np.float64)
        xy = arr[:, :2].copy()
        xy[:, 1] -= 0.5
        return xy, arr[:, 2].copy()
    if num_joints == 1:
        return np.zeros((1, 2)), np.full(1, 0.02)
    angle = 2.0 * np.pi * np.arange(num_joints) / num_joints
    xy = np.stack([0.2 * np.sin(angle), -0.45 * np.cos(angle)], axis=1)
    return xy, np.full(num_joints, 0.02)


# --------------------------------------------------------------------------------------
# Configuration and validation
# --------------------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_int(name: str, value: object, minimum: int) -> None:
    what = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    if not _is_int(value) or int(value) < minimum:  # type: ignore[call-overload]
        raise ValueError(f"{name} must be {what}, got {value!r}")


def _check_real(
    name: str,
    value: object,
    *,
    low: float,
    high: float = math.inf,
    low_open: bool = False,
) -> None:
    bracket = "(" if low_open else "["
    upper = "inf)" if math.isinf(high) else f"{high}]"
    ok = _is_real(value) and math.isfinite(float(value))  # type: ignore[arg-type]
    if ok:
        v = float(value)  # type: ignore[arg-type]
        ok = (v > low if low_open else v >= low) and v <= high
    if not ok:
        raise ValueError(f"{name} must be a finite number in {bracket}{low}, {upper}, got {value!r}")


def _check_range(name: str, value: object) -> None:
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(_is_real(v) and math.isfinite(float(v)) for v in value)
    )
    if ok:
        lo, hi = float(value[0]), float(value[1])  # type: ignore[index]
        ok = 0.0 < lo <= hi
    if not ok:
        raise ValueError(f"{name} must be a pair (low, high) with 0 < low <= high, got {value!r}")


@dataclass(frozen=True)
class SceneConfig:
    """Parameters of a synthetic scene. All fields are validated on construction.

    Attributes:
        height, width: map size ``H``, ``W`` in pixels (> 0).
        num_people: people ``P`` to place (>= 0).
        num_joints: joints ``K`` (>= 1); 17 uses the COCO template, other values a
            generic ring template (see :func:`template`).
        tag_dim: tag dimension ``L`` (>= 1). For ``L == 2`` the second dimension is a
            "flip" copy of the first (same value plus a small per-person offset), like
            HigherHRNet's flip-test tags; for ``L >= 3`` every dimension gets its own
            independently shuffled, well separated person values.
        sigma: Gaussian peak sigma in pixels (> 0).
        person_height: range of the person height as a fraction of ``H``.
        amplitude: range of peak heights, sampled per visible joint.
        visibility: probability that an in-map joint is visible (rendered).
        spurious_peaks: extra Gaussian blobs at random places/channels with amplitude
            in [0.1, 0.6] and no ground truth.
        noise: std of the additive (signed) Gaussian noise on the heatmaps.
        tag_spacing: spacing between different people's tag values (> 0).
        tag_noise: per-pixel tag noise std inside the discs around joints.
        seed: seed of ``np.random.default_rng`` (>= 0).
        plateaus: number of visible joint peaks turned into an exact two-pixel plateau
            (the peak pixel and its neighbour towards the true centre get the same
            float32 value); exercises NMS tie handling. 0 by default.
    """

    height: int = 256
    width: int = 256
    num_people: int = 10
    num_joints: int = 17
    tag_dim: int = 1
    sigma: float = 2.0
    person_height: Tuple[float, float] = (0.15, 0.6)
    amplitude: Tuple[float, float] = (0.35, 1.0)
    visibility: float = 0.9
    spurious_peaks: int = 20
    noise: float = 0.02
    tag_spacing: float = 2.0
    tag_noise: float = 0.1
    seed: int = 0
    plateaus: int = 0

    def __post_init__(self) -> None:
        _check_int("height", self.height, minimum=1)
        _check_int("width", self.width, minimum=1)
        _check_int("num_people", self.num_people, minimum=0)
        _check_int("num_joints", self.num_joints, minimum=1)
        _check_int("tag_dim", self.tag_dim, minimum=1)
        _check_real("sigma", self.sigma, low=0.0, low_open=True)
        _check_range("person_height", self.person_height)
        _check_range("amplitude", self.amplitude)
        # Normalise ranges given as lists/NumPy scalars so the frozen config stays hashable.
        for name in ("person_height", "amplitude"):
            lo, hi = getattr(self, name)
            object.__setattr__(self, name, (float(lo), float(hi)))
        _check_real("visibility", self.visibility, low=0.0, high=1.0)
        _check_int("spurious_peaks", self.spurious_peaks, minimum=0)
        _check_real("noise", self.noise, low=0.0)
        _check_real("tag_spacing", self.tag_spacing, low=0.0, low_open=True)
        _check_real("tag_noise", self.tag_noise, low=0.0)
        _check_int("seed", self.seed, minimum=0)
        _check_int("plateaus", self.plateaus, minimum=0)


@dataclass
class Scene:
    """One rendered scene and its ground truth.

    Attributes:
        heatmaps: (K, H, W) float32 heatmaps.
        tags: (K, H, W, L) float32 tag maps.
        joints: (P, K, 3) float32 ground truth ``x, y, v``; ``x``/``y`` are pixel-index
            coordinates of the Gaussian centre (kept even for invisible joints, which
            may lie outside the map), ``v`` is 1 for visible (rendered) joints, else 0.
        person_tags: (P, L) float32 tag value of each person.
        config: the configuration that produced the scene.
        amplitudes: (P, K) float32 peak height of each joint (0 where invisible), or
            ``None`` for hand-built scenes.
    """

    heatmaps: FloatArray
    tags: FloatArray
    joints: FloatArray
    person_tags: FloatArray
    config: SceneConfig
    amplitudes: Optional[FloatArray] = None

    @property
    def num_people(self) -> int:
        """Number of people ``P``."""
        return int(self.joints.shape[0])


def _resolve(config: Optional[SceneConfig], overrides: Dict[str, Any]) -> SceneConfig:
    names = {f.name for f in dataclasses.fields(SceneConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise TypeError(f"unknown SceneConfig field(s): {', '.join(unknown)}")
    if config is None:
        return SceneConfig(**overrides)
    if not isinstance(config, SceneConfig):
        raise TypeError(f"config must be a SceneConfig or None, got {type(config).__name__}")
    return dataclasses.replace(config, **overrides) if overrides else config


# --------------------------------------------------------------------------------------
# Scene layout
# --------------------------------------------------------------------------------------


def _pose(
    rng: np.random.Generator, cfg: SceneConfig, base: F64Array, jitter: F64Array
) -> Tuple[F64Array, float]:
    """Sample one body shape (joint offsets from the centre, in pixels)."""
    h = rng.uniform(*cfg.person_height) * cfg.height
    xy = base.copy()
    xy[:, 0] *= rng.uniform(0.85, 1.15)  # body width variation
    xy += rng.standard_normal(xy.shape) * jitter[:, None]
    if rng.random() < 0.5:  # left-right mirror (person facing away)
        xy[:, 0] = -xy[:, 0]
    theta = float(np.clip(rng.normal(0.0, 0.12), -0.35, 0.35))
    c, s = math.cos(theta), math.sin(theta)
    x, y = xy[:, 0], xy[:, 1]
    return np.stack([c * x - s * y, s * x + c * y], axis=1) * h, h


def _layout(
    rng: np.random.Generator, cfg: SceneConfig
) -> Tuple[F64Array, npt.NDArray[np.bool_]]:
    """Place people. Returns joints (P, K, 2) float64 (float32-exact) and visibility (P, K)."""
    P, K, H, W = cfg.num_people, cfg.num_joints, cfg.height, cfg.width
    base, jitter = template(K)
    joints = np.zeros((P, K, 2))
    visible = np.zeros((P, K), dtype=bool)
    # Same-channel separation that keeps two people's peaks distinguishable.
    min_sep = 4.0 * cfg.sigma
    need_inside = (K + 1) // 2
    far = 1e9
    for p in range(P):
        offsets, _ = _pose(rng, cfg, base, jitter)
        wanted = rng.random(K) < cfg.visibility
        lo = offsets.min(axis=0)
        hi = offsets.max(axis=0)
        ext = hi - lo
        best: Optional[F64Array] = None
        best_score = (-math.inf, -math.inf)
        placed = joints[:p]
        placed_ok = visible[:p]
        for _ in range(_PLACEMENT_TRIES):
            x0, x1 = -lo[0], W - 1 - hi[0]
            y0, y1 = -lo[1], H - 1 - hi[1]
            cx = rng.uniform(x0, x1) if x1 > x0 else rng.uniform(0.0, W - 1)
            cy = rng.uniform(y0, y1) if y1 > y0 else rng.uniform(0.0, H - 1)
            if rng.random() < _BORDER_PROBABILITY:
                # Straddle one border with 5-45% of the body extent outside the map.
                side = int(rng.integers(4))
                out = rng.uniform(0.05, 0.45)
                if side == 0:
                    cx = x0 - out * ext[0]
                elif side == 1:
                    cx = x1 + out * ext[0]
                elif side == 2:
                    cy = y0 - out * ext[1]
                else:
                    cy = y1 + out * ext[1]
            cand = (offsets + np.array([cx, cy])).astype(np.float32).astype(np.float64)
            inside = (
                (cand[:, 0] >= 0) & (cand[:, 0] <= W - 1) & (cand[:, 1] >= 0) & (cand[:, 1] <= H - 1)
            )
            n_inside = int(inside.sum())
            if n_inside < need_inside:
                score = (-math.inf, float(n_inside))
            elif p == 0:
                score = (math.inf, 0.0)
            else:
                d = np.linalg.norm(placed - cand[None], axis=2)  # (p, K)
                d = np.where(placed_ok & (inside & wanted)[None], d, far)
                score = (float(d.min()), 0.0)
            if score > best_score:
                best, best_score = cand, score
            if score[0] >= min_sep:
                break
        assert best is not None
        joints[p] = best
        visible[p] = (
            wanted
            & (best[:, 0] >= 0)
            & (best[:, 0] <= W - 1)
            & (best[:, 1] >= 0)
            & (best[:, 1] <= H - 1)
        )
    return joints, visible


def _person_tags(rng: np.random.Generator, cfg: SceneConfig) -> F64Array:
    P, L, s = cfg.num_people, cfg.tag_dim, cfg.tag_spacing

    def column() -> F64Array:
        offset = rng.uniform(-0.25, 0.25) * s
        ranks = rng.permutation(P).astype(np.float64)
        return np.asarray((ranks - (P - 1) / 2.0) * s + offset, dtype=np.float64)

    tags = np.zeros((P, L))
    tags[:, 0] = column()
    if L == 2:
        tags[:, 1] = tags[:, 0] + rng.normal(0.0, _FLIP_TAG_STD * s, size=P)
    else:
        for dim in range(1, L):
            tags[:, dim] = column()
    return tags.astype(np.float32).astype(np.float64)


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


def _window(c: float, radius: int, size: int) -> Tuple[int, int]:
    r = int(round(c))
    return max(r - radius, 0), min(r + radius + 1, size)


def _splat_max(
    heat: FloatArray, k: int, x: float, y: float, amp: float, sigma: float, radius: int
) -> None:
    """heat[k] = max(heat[k], amp * exp(-d^2 / (2 sigma^2))) inside a local window."""
    K, H, W = heat.shape
    x0, x1 = _window(x, radius, W)
    y0, y1 = _window(y, radius, H)
    if x0 >= x1 or y0 >= y1:
        return
    inv = -0.5 / (sigma * sigma)
    gx = np.exp(inv * (np.arange(x0, x1) - x) ** 2)
    gy = np.exp(inv * (np.arange(y0, y1) - y) ** 2) * amp
    win = heat[k, y0:y1, x0:x1]
    np.maximum(win, np.outer(gy, gx).astype(np.float32), out=win)


@functools.lru_cache(maxsize=1)
def _normal_table() -> FloatArray:
    """65536 standard-normal quantiles at (i + 0.5) / 65536 (tails reach +-4.3)."""
    dist = statistics.NormalDist()
    q = [dist.inv_cdf((i + 0.5) / 65536.0) for i in range(65536)]
    table = np.array(q, dtype=np.float32)
    table.flags.writeable = False
    return table


def _fast_normal(rng: np.random.Generator, shape: Tuple[int, ...], std: float) -> FloatArray:
    """Gaussian noise via a 16-bit quantile table: ~2-3x faster than standard_normal.

    The 65536-level quantisation (step << std) is invisible for heatmap noise.
    """
    table = _normal_table() * np.float32(std)
    return table[rng.integers(0, 65536, size=shape, dtype=np.uint16)]


def _lerp_up(coarse: FloatArray, axis: int, size: int) -> FloatArray:
    """Linearly upsample ``coarse`` by ``_TAG_CELL`` along ``axis`` (cropped to ``size``).

    Pure broadcasting: no BLAS, whose threaded matmuls stall badly on busy machines.
    """
    axis = axis % coarse.ndim
    n = coarse.shape[axis]
    trailing = coarse.ndim - axis - 1
    frac = (np.arange(_TAG_CELL, dtype=np.float32) / np.float32(_TAG_CELL)).reshape(
        (_TAG_CELL,) + (1,) * trailing
    )
    head = (slice(None),) * axis
    lo = np.expand_dims(coarse[head + (slice(0, n - 1),)], axis + 1)
    hi = np.expand_dims(coarse[head + (slice(1, n),)], axis + 1)
    fine: FloatArray = np.multiply(hi - lo, frac)  # (..., n - 1, cell, ...)
    fine += lo
    shape = coarse.shape[:axis] + ((n - 1) * _TAG_CELL,) + coarse.shape[axis + 1 :]
    out: FloatArray = fine.reshape(shape)[head + (slice(0, size),)]
    return out


def _tag_background(rng: np.random.Generator, cfg: SceneConfig, person_tags: F64Array) -> FloatArray:
    """Smooth random tag field (K, H, W, L) spanning the range of the person tags.

    Uniform random values on a coarse grid (one node every ``_TAG_CELL`` pixels),
    bilinearly interpolated. Computed as (L, K, H, W) so the work runs along W.
    """
    K, H, W, L = cfg.num_joints, cfg.height, cfg.width, cfg.tag_dim
    half = 0.5 * cfg.tag_spacing
    if person_tags.shape[0]:
        lo = person_tags.min(axis=0) - half
        hi = person_tags.max(axis=0) + half
    else:
        lo, hi = np.full(L, -half), np.full(L, half)
    nh = -(-H // _TAG_CELL) + 1
    nw = -(-W // _TAG_CELL) + 1
    u = rng.uniform(size=(L, K, nh, nw))
    coarse = (lo[:, None, None, None] + u * (hi - lo)[:, None, None, None]).astype(np.float32)
    field = _lerp_up(_lerp_up(coarse, 2, H), 3, W)  # (L, K, H, W)
    return np.ascontiguousarray(np.moveaxis(field, 0, -1), dtype=np.float32)


def make_scene(config: Optional[SceneConfig] = None, **overrides: Any) -> Scene:
    """Render one synthetic scene.

    Args:
        config: base configuration (default ``SceneConfig()``).
        **overrides: ``SceneConfig`` fields to replace, e.g. ``make_scene(seed=3)``.

    Returns:
        A :class:`Scene` with heatmaps (K, H, W), tags (K, H, W, L), joints (P, K, 3),
        person_tags (P, L) and amplitudes (P, K).

    Raises:
        ValueError: an invalid configuration value (the message names the field).
        TypeError: an unknown override name or a config of the wrong type.
    """
    cfg = _resolve(config, overrides)
    rng = np.random.default_rng(cfg.seed)
    P, K, H, W, L = cfg.num_people, cfg.num_joints, cfg.height, cfg.width, cfg.tag_dim
    sigma = float(cfg.sigma)

    xy, visible = _layout(rng, cfg)
    person_tags = _person_tags(rng, cfg)
    amps = np.where(visible, rng.uniform(*cfg.amplitude, size=(P, K)), 0.0).astype(np.float32)

    # Heatmaps: max over people of Gaussians in local windows, then spurious blobs.
    heat = np.zeros((K, H, W), dtype=np.float32)
    radius = int(math.ceil(3.0 * sigma)) + 1
    for p, k in zip(*np.nonzero(visible)):
        _splat_max(heat, int(k), xy[p, k, 0], xy[p, k, 1], float(amps[p, k]), sigma, radius)
    if cfg.spurious_peaks:
        n = cfg.spurious_peaks
        ch = rng.integers(0, K, size=n)
        sx = rng.uniform(0.0, W - 1, size=n)
        sy = rng.uniform(0.0, H - 1, size=n)
        sa = rng.uniform(*_SPURIOUS_AMPLITUDE, size=n)
        ss = sigma * rng.uniform(0.75, 1.5, size=n)
        for i in range(n):
            r = int(math.ceil(3.0 * ss[i])) + 1
            _splat_max(heat, int(ch[i]), sx[i], sy[i], float(sa[i]), float(ss[i]), r)
    if cfg.noise > 0:
        heat += _fast_normal(rng, heat.shape, cfg.noise)

    if cfg.plateaus and P:
        cand_p, cand_k = np.nonzero(visible)
        n = min(cfg.plateaus, cand_p.size)
        for i in rng.choice(cand_p.size, size=n, replace=False):
            p, k = int(cand_p[i]), int(cand_k[i])
            x, y = xy[p, k]
            cx, cy = int(round(x)), int(round(y))
            # Neighbour on the side of the true centre, along the larger offset.
            if abs(x - cx) >= abs(y - cy):
                nx, ny = cx + (1 if x >= cx else -1), cy
            else:
                nx, ny = cx, cy + (1 if y >= cy else -1)
            if 0 <= nx < W and 0 <= ny < H:
                top = max(heat[k, cy, cx], heat[k, ny, nx])
                heat[k, cy, cx] = top
                heat[k, ny, nx] = top

    # Tags: smooth background; person tag (+ noise) in a disc around each visible joint,
    # the nearest joint winning where discs of different people overlap.
    tags = _tag_background(rng, cfg, person_tags)
    if P:
        # nearest holds 1 + squared distance to the joint owning a pixel; 0 = unowned
        # (np.zeros is lazily zeroed memory, much cheaper than filling with inf).
        nearest = np.zeros((K, H, W), dtype=np.float32)
        disc_r2 = (3.0 * sigma) ** 2
        tag_radius = int(math.ceil(3.0 * sigma))
        tn = np.float32(cfg.tag_noise)
        pt32 = person_tags.astype(np.float32)
        for p, k in zip(*np.nonzero(visible)):
            x, y = xy[p, k]
            x0, x1 = _window(x, tag_radius, W)
            y0, y1 = _window(y, tag_radius, H)
            if x0 >= x1 or y0 >= y1:
                continue
            d2 = ((np.arange(y0, y1) - y) ** 2)[:, None] + ((np.arange(x0, x1) - x) ** 2)[None, :]
            d2 = d2.astype(np.float32) + np.float32(1.0)
            near = nearest[k, y0:y1, x0:x1]
            mask = (d2 <= disc_r2 + 1.0) & ((near == 0) | (d2 < near))
            near[mask] = d2[mask]
            vals = rng.standard_normal(size=(y1 - y0, x1 - x0, L), dtype=np.float32)
            vals *= tn
            vals += pt32[p]
            win = tags[k, y0:y1, x0:x1]
            win[mask] = vals[mask]

    joints = np.zeros((P, K, 3), dtype=np.float32)
    joints[:, :, :2] = xy
    joints[:, :, 2] = visible
    return Scene(
        heatmaps=heat,
        tags=tags,
        joints=joints,
        person_tags=person_tags.astype(np.float32),
        config=cfg,
        amplitudes=amps,
    )


def make_batch(
    n: int, config: Optional[SceneConfig] = None, **overrides: Any
) -> Tuple[FloatArray, FloatArray, List[Scene]]:
    """Render ``n`` scenes with seeds ``seed, seed + 1, ..., seed + n - 1``.

    Returns:
        ``(heatmaps, tags, scenes)``: heatmaps (N, K, H, W) float32, tags
        (N, K, H, W, L) float32 (copies; the scenes keep their own arrays) and the list
        of the N :class:`Scene` objects.
    """
    _check_int("n", n, minimum=0)
    cfg = _resolve(config, overrides)
    K, H, W, L = cfg.num_joints, cfg.height, cfg.width, cfg.tag_dim
    heat = np.empty((n, K, H, W), dtype=np.float32)
    tags = np.empty((n, K, H, W, L), dtype=np.float32)
    scenes: List[Scene] = []
    for i in range(int(n)):
        scene = make_scene(dataclasses.replace(cfg, seed=cfg.seed + i))
        heat[i] = scene.heatmaps
        tags[i] = scene.tags
        scenes.append(scene)
    return heat, tags, scenes


# --------------------------------------------------------------------------------------
# COCO export
# --------------------------------------------------------------------------------------


def _bbox(points: F64Array, width: int, height: int) -> List[float]:
    """Padded [x, y, w, h] box around points (M, 2), clipped to the image."""
    lo = points.min(axis=0)
    hi = points.max(axis=0)
    pad = max(0.1 * float((hi - lo).max()), 2.0)
    x0 = max(float(lo[0]) - pad, 0.0)
    y0 = max(float(lo[1]) - pad, 0.0)
    x1 = min(float(hi[0]) + pad, float(width))
    y1 = min(float(hi[1]) + pad, float(height))
    return [x0, y0, max(x1 - x0, 0.0), max(y1 - y0, 0.0)]


def to_coco(scenes: Sequence[Scene], coordinate_offset: float = 0.0) -> Dict[str, Any]:
    """Build a COCO keypoints ground-truth dict from scenes.

    Image ``i`` (0-based in ``scenes``) gets id ``i + 1``; annotation ids run from 1.
    Visible joints are written as ``[x + offset, y + offset, 2]``, invisible ones as
    ``[0, 0, 0]`` (the COCO convention). The bbox is the box of the visible joints
    (of all joints, clipped, if none is visible) padded by ``max(10% of its longer
    side, 2 px)`` and clipped to the image, in offset coordinates; ``area`` is the bbox
    area. All scenes must have the same number of joints.

    Args:
        scenes: the scenes, one image each.
        coordinate_offset: added to every x and y (use 0.5 for decoders that report
            pixel-centre coordinates).

    Returns:
        A dict with ``info``, ``images``, ``annotations`` and ``categories``.
    """
    off = float(coordinate_offset)
    ks = {s.joints.shape[1] for s in scenes}
    if len(ks) > 1:
        raise ValueError(f"scenes must share num_joints, got {sorted(ks)}")
    K = ks.pop() if ks else 17
    if K == 17:
        names = list(COCO_KEYPOINT_NAMES)
        skeleton = [list(e) for e in COCO_SKELETON]
    else:
        names = [f"joint_{k}" for k in range(K)]
        skeleton = [[k + 1, (k + 1) % K + 1] for k in range(K if K > 2 else K - 1)]
    images: List[Dict[str, Any]] = []
    annotations: List[Dict[str, Any]] = []
    for i, scene in enumerate(scenes):
        H, W = scene.heatmaps.shape[-2:]
        image_id = i + 1
        images.append({"id": image_id, "width": int(W), "height": int(H), "file_name": f"synthetic_{i:06d}.png"})
        for person in scene.joints.astype(np.float64):
            vis = person[:, 2] > 0
            kps = np.zeros((K, 3))
            kps[vis, :2] = person[vis, :2] + off
            kps[vis, 2] = 2
            if vis.any():
                box = _bbox(person[vis, :2] + off, W, H)
            else:
                box = _bbox(np.clip(person[:, :2] + off, 0.0, [W, H]), W, H)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": [float(v) if j % 3 != 2 else int(v) for j, v in enumerate(kps.ravel())],
                    "num_keypoints": int(vis.sum()),
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
    return {
        "info": {"description": "hrdecode synthetic scenes"},
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": 1, "name": "person", "supercategory": "person", "keypoints": names, "skeleton": skeleton}
        ],
    }


def to_omz_output(heatmaps: np.ndarray, kernel: int = 5) -> np.ndarray:
    """What an Open Model Zoo HigherHRNet model outputs for these heatmaps: NMS is part of its graph
    (``relu``, then every pixel that is not the maximum of its ``kernel`` x ``kernel`` window is negated).
    Input for ``Decoder(preset="omz")``.

    heatmaps: (K, H, W) or (N, K, H, W); returns a new float32 array of the same shape.
    """
    from ._reference import nms_mask

    h = np.maximum(np.asarray(heatmaps, dtype=np.float32), np.float32(0))
    flat = h.reshape((-1,) + h.shape[-2:])
    out = np.empty_like(flat)
    for i, m in enumerate(flat):
        out[i] = np.where(nms_mask(m, kernel), m, -m)
    return out.reshape(h.shape)
