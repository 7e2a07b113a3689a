"""COCO keypoint results: JSON records, skeleton drawing, OKS AP with pycocotools.

>>> recs = coco.results_to_coco(res, image_id=139)           # [{"image_id", "category_id", "keypoints", "score"}]
>>> coco.write_json("results.json", recs)                    # atomic: complete or absent
>>> vis = coco.draw_skeleton(image, res.keypoints)           # a new image
>>> stats = coco.evaluate("person_keypoints_val2017.json", "results.json")
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = ["COCO_SKELETON", "COCO_SIGMAS", "results_to_coco", "write_json", "draw_skeleton", "evaluate",
           "STAT_NAMES"]

#: COCO person skeleton, 0-based joint index pairs (the dataset's ``skeleton`` field minus 1).
COCO_SKELETON: Tuple[Tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
    (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))
#: COCO's per-joint OKS sigmas as pycocotools uses them (nose 0.026): the scale ``--sigmas`` takes.
COCO_SIGMAS: Tuple[float, ...] = (.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062, .107, .107,
                                  .087, .087, .089, .089)
#: The 10 numbers ``COCOeval.summarize`` prints for keypoints, in order.
STAT_NAMES: Tuple[str, ...] = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def results_to_coco(result: Any, image_id: Any, category_id: int = 1) -> List[Dict[str, Any]]:
    """COCO result records for one image's people: flat ``keypoints`` [x, y, score] * K and ``score``.

    ``result``: a :class:`hrdecode.PredictResult` (or anything with ``keypoints`` (P, K, 3) and ``scores`` (P,)).
    """
    kp = np.asarray(result.keypoints, dtype=np.float64)
    sc = np.asarray(result.scores, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[2] != 3 or sc.shape != kp.shape[:1]:
        raise ValueError(f"result: expected keypoints (P, K, 3) and scores (P,), got {kp.shape} and {sc.shape}")
    return [{"image_id": image_id, "category_id": int(category_id),
             "keypoints": [round(float(v), 3) for v in kp[p].reshape(-1)], "score": round(float(sc[p]), 6)}
            for p in range(kp.shape[0])]


def write_json(path: Union[str, "os.PathLike[str]"], obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` through a temporary file, so a crash never leaves a partial file."""
    p = os.fspath(path)
    tmp = p + ".partial"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    os.replace(tmp, p)


def draw_skeleton(image: np.ndarray, keypoints: np.ndarray, threshold: float = 0.1,
                  skeleton: Sequence[Tuple[int, int]] = COCO_SKELETON, thickness: int = 2) -> np.ndarray:
    """A copy of ``image`` (HxWx3 uint8 BGR) with each person's joints (score > ``threshold``) and the limbs
    between two such joints drawn, one colour per person. ``keypoints``: (P, K, 3) in image pixels."""
    import cv2

    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image: expected an HxWx3 uint8 array, got "
                         f"{getattr(image, 'shape', type(image).__name__)} {getattr(image, 'dtype', '')}")
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[2] != 3:
        raise ValueError(f"keypoints: expected (P, K, 3), got {kp.shape}")
    out = image.copy()
    K = kp.shape[1]
    for p, person in enumerate(kp):
        # Distinct, saturated colours: golden-ratio hue steps.
        hue = int((p * 0.618033988749895 % 1.0) * 179)
        colour = tuple(int(c) for c in cv2.cvtColor(np.uint8([[[hue, 230, 255]]]), cv2.COLOR_HSV2BGR)[0, 0])
        ok = (person[:, 2] > threshold) & np.isfinite(person[:, :2]).all(axis=1)
        for a, b in skeleton:
            if a < K and b < K and ok[a] and ok[b]:
                cv2.line(out, (int(round(person[a, 0])), int(round(person[a, 1]))),
                         (int(round(person[b, 0])), int(round(person[b, 1]))), colour, thickness, cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            cv2.circle(out, (int(round(person[j, 0])), int(round(person[j, 1]))), thickness + 1, colour, -1,
                       cv2.LINE_AA)
    return out


def evaluate(gt: Union[str, "os.PathLike[str]"], results: Any, sigmas: Optional[Sequence[float]] = None,
             verbose: bool = False) -> Dict[str, float]:
    """OKS AP/AR of ``results`` (a results JSON path or a list of records) against the ground-truth
    annotation file ``gt``, with pycocotools.

    ``sigmas``: per-joint OKS sigmas for keypoint sets other than COCO's 17, on pycocotools' scale
    (:data:`COCO_SIGMAS`); their number must match the annotations. Returns ``{name: value}`` for
    :data:`STAT_NAMES`.
    """
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as e:
        raise ImportError("evaluation needs pycocotools: pip install pycocotools") from e
    import contextlib
    import io

    g = os.fspath(gt)
    if not os.path.isfile(g):
        raise FileNotFoundError(f"gt: no such file {g!r}")
    if isinstance(results, (str, os.PathLike)):
        r = os.fspath(results)
        if not os.path.isfile(r):
            raise FileNotFoundError(f"results: no such file {r!r}")
        with open(r, encoding="utf-8") as f:
            results = json.load(f)
    if not isinstance(results, list):
        raise ValueError(f"results: expected a list of COCO result records, got {type(results).__name__}")
    quiet = contextlib.redirect_stdout(io.StringIO()) if not verbose else contextlib.nullcontext()
    with quiet:
        coco_gt = COCO(g)
        if not results:
            return {k: 0.0 for k in STAT_NAMES}
        coco_dt = coco_gt.loadRes(results)
        ev = COCOeval(coco_gt, coco_dt, "keypoints")
        if sigmas is not None:
            s = np.asarray(sigmas, dtype=np.float64)
            K = len(results[0]["keypoints"]) // 3
            if s.ndim != 1 or s.shape[0] != K or not (s > 0).all():
                raise ValueError(f"sigmas: expected {K} positive numbers (one per joint), got {list(s)}")
            ev.params.kpt_oks_sigmas = s
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {k: float(v) for k, v in zip(STAT_NAMES, ev.stats)}
