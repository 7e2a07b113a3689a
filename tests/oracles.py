"""Reference associative-embedding decoders, callable as test oracles.

Two real, *installed* reference implementations are wrapped here (nothing is
vendored; if a package is missing the oracle reports itself unavailable):

* mmpose 1.x ``mmpose.codecs.AssociativeEmbedding.batch_decode``
  (mmpose==1.3.2 installed with ``--no-deps``, mmcv-lite==2.1.0, mmengine,
  torch==2.13.0, munkres==1.1.4).
* Open Model Zoo / openvino model_api
  ``model_api.models.hpe_associative_embedding.AssociativeEmbeddingDecoder``
  (openvino-model-api==0.2.5.4 installed with ``--no-deps``; its package import
  chain needs ``openvino`` 2024.x for ``openvino.runtime``).

The install commands are in the CI install script; ``mmpose_available()`` and
``omz_available()`` say why an oracle cannot be used.

Tie order: both references take their top-k candidates with an unstable
selection (``torch.topk`` on CPU; ``np.argpartition`` + ``np.argsort`` in OMZ).
For *exactly equal* candidate values their order is NOT
"value descending, then flat index ascending" (measured: for a tied pair the
lower index comes first only about half the time), although it is
deterministic for a given input on a given machine. Because candidate order
drives group creation order and Munkres/LSA tie-breaking, oracle outputs are
only well defined for inputs whose above-threshold candidates have no exact
ties; ``topk_has_ties()`` detects such inputs.
"""

from __future__ import annotations

import importlib.metadata as _md
import warnings
from typing import Optional, Sequence

import numpy as np

__all__ = [
    "COCO_KEYPOINT_ORDER",
    "MUNKRES_VERSION",
    "mmpose_available",
    "mmpose_decode",
    "omz_available",
    "omz_decode",
    "omz_signed_heatmaps",
    "nms_peaks",
    "topk_has_ties",
]

#: mmpose's HigherHRNet/COCO grouping order (also OMZ's built-in order for K=17).
COCO_KEYPOINT_ORDER = (0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16)

#: mmpose groups with munkres; 1.1.4 is the version whose tie-breaking the
#: mmpose preset reproduces (munkres 1.1.x and 3.x break ties differently).
MUNKRES_VERSION = "1.1.4"


def _dist_version(name: str) -> str:
    try:
        return _md.version(name)
    except _md.PackageNotFoundError:
        return "?"


# --------------------------------------------------------------------------
# mmpose 1.x
# --------------------------------------------------------------------------

_MMPOSE_STATE: Optional[tuple] = None  # (ok, reason, codec_cls, torch_module)


def _load_mmpose() -> tuple:
    global _MMPOSE_STATE
    if _MMPOSE_STATE is not None:
        return _MMPOSE_STATE
    try:
        import torch  # noqa: F401  (imported first to give a clear reason)
        from mmpose.codecs import AssociativeEmbedding
    except Exception as exc:  # ImportError, or mmpose's mmcv-version assert
        _MMPOSE_STATE = (False, f"mmpose oracle not importable: {type(exc).__name__}: {exc}", None, None)
        return _MMPOSE_STATE
    munkres_v = _dist_version("munkres")
    if munkres_v != MUNKRES_VERSION:
        _MMPOSE_STATE = (
            False,
            f"mmpose oracle needs munkres=={MUNKRES_VERSION} (tie-breaking differs), found {munkres_v}",
            None,
            None,
        )
        return _MMPOSE_STATE
    import torch

    reason = (
        f"mmpose {_dist_version('mmpose')}, mmcv-lite {_dist_version('mmcv-lite')}, "
        f"mmengine {_dist_version('mmengine')}, torch {torch.__version__}, munkres {munkres_v}"
    )
    _MMPOSE_STATE = (True, reason, AssociativeEmbedding, torch)
    return _MMPOSE_STATE


def mmpose_available() -> tuple[bool, str]:
    """(ok, reason): whether the mmpose AssociativeEmbedding codec can be used."""
    ok, reason, _, _ = _load_mmpose()
    return ok, reason


def _tags_to_mmpose_layout(tags: np.ndarray, shape_nkhw: tuple) -> np.ndarray:
    """(N,K,H,W,L) -> (N, L*K, H, W), L-major: channel l*K+k is tags[:, k, :, :, l]."""
    tags = np.asarray(tags)
    if tags.ndim == 4:  # L = 1 given without the trailing axis
        tags = tags[..., None]
    if tags.ndim != 5 or tags.shape[:4] != shape_nkhw:
        raise ValueError(f"tags must be (N,K,H,W,L) matching heatmaps {shape_nkhw}, got {tags.shape}")
    n, k, h, w, l_ = tags.shape
    # transpose + reshape always allocates a new array here, so the caller's
    # tags are never shared with the torch tensor.
    return np.ascontiguousarray(tags.transpose(0, 4, 1, 2, 3), dtype=np.float32).reshape(n, l_ * k, h, w).copy()


def mmpose_decode(
    heatmaps: np.ndarray,
    tags: np.ndarray,
    *,
    nms_kernel: int = 5,
    topk: int = 30,
    keypoint_thr: float = 0.1,
    tag_thr: float = 1.0,
    center_shift: float = 0.5,
    max_instances: Optional[int] = 30,
    keypoint_order: Optional[Sequence[int]] = None,
    use_udp: bool = False,
    gaussian_kernel: int = 3,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Decode with mmpose's ``AssociativeEmbedding.batch_decode``.

    heatmaps: (N,K,H,W) float32. tags: (N,K,H,W,L) float32 (hrdecode layout;
    a 4-D (N,K,H,W) array is taken as L=1). input_size == heatmap_size, so the
    codec's scale factor is 1. Returns one ``(keypoints (P,K,2),
    keypoint_scores (P,K), instance_scores (P,))`` float32 tuple per image.
    The caller's arrays are never modified (the codec gets private copies).
    """
    ok, reason, codec_cls, torch = _load_mmpose()
    if not ok:
        raise RuntimeError(reason)
    heatmaps = np.asarray(heatmaps)
    if heatmaps.ndim != 4:
        raise ValueError(f"heatmaps must be (N,K,H,W), got {heatmaps.shape}")
    n, k, h, w = heatmaps.shape
    tags_c = _tags_to_mmpose_layout(tags, (n, k, h, w))
    hm_c = np.array(heatmaps, dtype=np.float32, order="C", copy=True)

    if keypoint_order is None:
        keypoint_order = COCO_KEYPOINT_ORDER if k == 17 else range(k)
    order = [int(i) for i in keypoint_order]
    if sorted(order) != list(range(k)):
        raise ValueError(f"keypoint_order must be a permutation of range({k}), got {order}")

    codec = codec_cls(
        input_size=(w, h),
        heatmap_size=(w, h),
        use_udp=use_udp,
        decode_gaussian_kernel=gaussian_kernel,
        decode_keypoint_order=order,
        decode_nms_kernel=nms_kernel,
        decode_keypoint_thr=keypoint_thr,
        decode_tag_thr=tag_thr,
        decode_topk=topk,
        decode_center_shift=center_shift,
        decode_max_instances=max_instances,
    )
    with torch.no_grad():
        kpts, kpt_scores, inst_scores = codec.batch_decode(torch.from_numpy(hm_c), torch.from_numpy(tags_c))
    return [
        (
            np.asarray(kp, dtype=np.float32).reshape(-1, k, 2),
            np.asarray(ks, dtype=np.float32).reshape(-1, k),
            np.asarray(isc, dtype=np.float32).reshape(-1),
        )
        for kp, ks, isc in zip(kpts, kpt_scores, inst_scores)
    ]


# --------------------------------------------------------------------------
# Open Model Zoo (openvino model_api)
# --------------------------------------------------------------------------

_OMZ_STATE: Optional[tuple] = None  # (ok, reason, decoder_cls)


def _load_omz() -> tuple:
    global _OMZ_STATE
    if _OMZ_STATE is not None:
        return _OMZ_STATE
    try:
        with warnings.catch_warnings():
            # model_api/models/open_pose.py does `from numpy.core.umath import
            # clip`, a DeprecationWarning on numpy>=2 (harmless; would become an
            # error under -W error).
            warnings.simplefilter("ignore", DeprecationWarning)
            from model_api.models.hpe_associative_embedding import AssociativeEmbeddingDecoder
    except Exception as exc:
        _OMZ_STATE = (False, f"OMZ oracle not importable: {type(exc).__name__}: {exc}", None)
        return _OMZ_STATE
    reason = (
        f"openvino-model-api {_dist_version('openvino-model-api')}, "
        f"openvino {_dist_version('openvino')}, scipy {_dist_version('scipy')}, numpy {np.__version__}"
    )
    _OMZ_STATE = (True, reason, AssociativeEmbeddingDecoder)
    return _OMZ_STATE


def omz_available() -> tuple[bool, str]:
    """(ok, reason): whether OMZ's AssociativeEmbeddingDecoder can be used."""
    ok, reason, _ = _load_omz()
    return ok, reason


def omz_decode(
    heatmaps: np.ndarray,
    tags: np.ndarray,
    *,
    delta: float = 0.5,
    pose_threshold: float = 0.1,
    max_num_people: int = 30,
    detection_threshold: float = 0.1,
    tag_threshold: float = 1.0,
    adjust: bool = True,
    refine: bool = True,
    dist_reweight: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode with OMZ's ``AssociativeEmbeddingDecoder``.

    heatmaps: (1,K,H,W) float32 OMZ-style *signed* map (NMS in the graph:
    peaks keep their value, every non-peak is negated; see
    ``omz_signed_heatmaps``). tags: (1,K,H,W) or (1,K,H,W,1).

    The decoder is built as ``HpeAssociativeEmbedding.__init__`` builds it and
    called as ``HpeAssociativeEmbedding.postprocess`` calls it for a model
    without a separate ``nms_heatmaps`` output: ``dec(h, t, nms_heatmaps=h)``
    with the *same* array object (the decoder takes |h| in place after top-k).
    Returns (poses (P,K,4) float32 [x, y, score, tag], scores (P,) float32),
    in the heatmap's coordinates (no output_scale / resize applied).
    """
    ok, reason, dec_cls = _load_omz()
    if not ok:
        raise RuntimeError(reason)
    heatmaps = np.asarray(heatmaps)
    if heatmaps.ndim != 4 or heatmaps.shape[0] != 1:
        raise ValueError(f"heatmaps must be (1,K,H,W) (the decoder only returns image 0), got {heatmaps.shape}")
    k = heatmaps.shape[1]
    tags = np.asarray(tags)
    if tags.ndim == 5:
        if tags.shape[-1] != 1:
            raise ValueError(f"OMZ's decoder supports 1-D tags only (refine uses tag[..., 0]); got {tags.shape}")
        tags = tags[..., 0]
    if tags.shape != heatmaps.shape:
        raise ValueError(f"tags must be (1,K,H,W[,1]) matching heatmaps {heatmaps.shape}, got {tags.shape}")

    hm_c = np.array(heatmaps, dtype=np.float32, order="C", copy=True)
    # (1,K,H,W) is the layout of the OMZ model's `embeddings` output.
    tags_c = np.array(tags, dtype=np.float32, order="C", copy=True)

    dec = dec_cls(
        num_joints=k,
        adjust=adjust,
        refine=refine,
        delta=delta,
        max_num_people=max_num_people,
        detection_threshold=detection_threshold,
        tag_threshold=tag_threshold,
        pose_threshold=pose_threshold,
        use_detection_val=True,
        ignore_too_much=False,
        dist_reweight=dist_reweight,
    )
    poses, scores = dec(hm_c, tags_c, nms_heatmaps=hm_c)
    return np.asarray(poses, dtype=np.float32), np.asarray(scores, dtype=np.float32).reshape(-1)


def _max_pool_same(x: np.ndarray, kernel: int) -> np.ndarray:
    """Max over a kernel x kernel window (stride 1, padding kernel//2 with
    -inf, like torch.nn.MaxPool2d) on the last two axes."""
    if kernel < 1 or kernel % 2 != 1:
        raise ValueError(f"kernel must be a positive odd integer, got {kernel}")
    r = kernel // 2
    pad = [(0, 0)] * (x.ndim - 2) + [(r, r), (r, r)]
    xp = np.pad(x, pad, mode="constant", constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view
    # max is exact, so the separable form equals the 2-D window max.
    rows = win(xp, kernel, axis=-1).max(axis=-1)
    return win(rows, kernel, axis=-2).max(axis=-1)


def omz_signed_heatmaps(heatmaps_KHW: np.ndarray, kernel: int = 5) -> np.ndarray:
    """OMZ export's in-graph NMS on a plain heatmap: relu, then every pixel that is not the maximum of its
    kernel x kernel window (-inf padding) is negated. hrdecode ships this as ``synthetic.to_omz_output``;
    test_oracles.py checks it against a brute-force window scan."""
    from hrdecode.synthetic import to_omz_output

    return to_omz_output(heatmaps_KHW, kernel)


def nms_peaks(heatmaps: np.ndarray, kernel: int = 5) -> np.ndarray:
    """mmpose-style NMS in numpy: value where h == maxpool(h), else 0."""
    h = np.asarray(heatmaps, dtype=np.float32)
    return np.where(h == _max_pool_same(h, kernel), h, np.float32(0))


def topk_has_ties(heatmaps: np.ndarray, *, topk: int = 30, thr: float = 0.1, kernel: int = 5) -> bool:
    """True if, in some (image, keypoint) channel, two NMS survivors above
    ``thr`` that the top-``topk`` selection can reach have exactly equal
    values (including a tie straddling the cut-off).

    On such inputs the references' candidate order is unspecified (see the
    module docstring), so a comparison against them is not well defined.
    ``heatmaps`` are plain (N,K,H,W) maps (for OMZ pass ``np.abs`` of the
    signed map's positive part, i.e. ``np.maximum(signed, 0)``, with
    topk=max_num_people and thr=detection_threshold).
    """
    p = nms_peaks(heatmaps, kernel)
    flat = p.reshape(-1, p.shape[-2] * p.shape[-1])
    for row in flat:
        v = row[row > thr]
        if v.size < 2:
            continue
        v = np.sort(v)[::-1][: topk + 1]
        if np.any(v[1:] == v[:-1]):
            return True
    return False
