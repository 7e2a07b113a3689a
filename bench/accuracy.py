"""OKS AP of every preset on synthetic scene sets with known sub-pixel ground truth (the README accuracy table).

    python bench/accuracy.py            # all scene sets, 24 images each
    python bench/accuracy.py --quick    # 6 images per set (CI smoke run)
    python bench/accuracy.py --json

Each scene set is ``hrdecode.synthetic.make_scene`` with one generator setting changed from the defaults
(17 COCO joints, 128x128 maps, so no result depends on one generator configuration): peak sigma, heat noise
and spurious peaks, person size, tag noise and spacing, crowd level, 2-D (flip-style) tags. Every preset decodes
the same maps (the ``omz`` preset gets the OMZ model-style signed maps of the same scene); predictions are
moved to pixel-index coordinates by subtracting the decoder's ``coordinate_offset`` and scored with
pycocotools' keypoint OKS AP (COCO sigmas; the GT box area from ``synthetic.to_coco``). Where mmpose is
installed, its real codec decodes the same maps too (column "mmpose codec"). It equals the ``mmpose``
preset except where two candidates of a joint have bit-identical values and torch.topk orders the tie
differently (hrdecode: lower flat index first; torch leaves it unspecified): the generator renders its
spurious peaks with identical values, so the "noisy maps" set has such ties. The last columns give the mean decode time of each preset on the set (one image per call).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from typing import Any, Dict, List, Sequence

import numpy as np

import hrdecode
from hrdecode import synthetic

from bench_scenes import oracles

SIZE = 128
SCENE_SETS: Dict[str, Dict[str, Any]] = {
    "default (10 people)": dict(num_people=10),
    "crowded (25 people)": dict(num_people=25),
    "wide peaks (sigma 3)": dict(num_people=10, sigma=3.0),
    "narrow peaks (sigma 1.5)": dict(num_people=10, sigma=1.5),
    "noisy maps": dict(num_people=10, noise=0.06, spurious_peaks=50),
    "small people": dict(num_people=15, person_height=(0.1, 0.25)),
    "ambiguous tags": dict(num_people=10, tag_spacing=1.2, tag_noise=0.3),
    "2-D tags": dict(num_people=10, tag_dim=2),
}


def _quiet(fn, *a, **k):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*a, **k)


def oks_ap(scenes: Sequence[synthetic.Scene], preds: List[List[tuple]]) -> float:
    """COCO keypoint AP of preds[i] = [(keypoints (K,3) in pixel-index coordinates, score), ...]."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO()
    gt.dataset = synthetic.to_coco(scenes, coordinate_offset=0.0)
    _quiet(gt.createIndex)
    dets = [{"image_id": i + 1, "category_id": 1, "keypoints": [float(v) for v in kp.ravel()], "score": float(sc)}
            for i, people in enumerate(preds) for kp, sc in people]
    if not dets:
        return 0.0
    dt = _quiet(gt.loadRes, dets)
    ev = COCOeval(gt, dt, "keypoints")
    _quiet(ev.evaluate)
    _quiet(ev.accumulate)
    _quiet(ev.summarize)
    return float(ev.stats[0])


def run(n_images: int, presets: Sequence[str]) -> Dict[str, Any]:
    mm_ok = oracles.mmpose_available()[0] if hasattr(oracles, "mmpose_available") else False
    out: Dict[str, Any] = {}
    for name, params in SCENE_SETS.items():
        scenes = [synthetic.make_scene(height=SIZE, width=SIZE, seed=1000 + i, **params) for i in range(n_images)]
        row: Dict[str, Any] = {}
        for preset in presets:
            dec = hrdecode.Decoder(preset)
            off = dec.coordinate_offset
            preds, ms = [], []
            for s in scenes:
                heat = oracles.omz_signed_heatmaps(s.heatmaps) if preset == "omz" else s.heatmaps
                t0 = time.perf_counter()
                r = dec(heat, s.tags)
                ms.append((time.perf_counter() - t0) * 1e3)
                kp = r.keypoints.copy()
                kp[..., :2] -= off
                preds.append(list(zip(kp, r.scores)))
            row[preset] = {"ap": oks_ap(scenes, preds), "ms": float(np.mean(ms))}
        if mm_ok:
            heat = np.stack([s.heatmaps for s in scenes])
            tags = np.stack([s.tags for s in scenes])
            preds = []
            for kp, ks, isc in oracles.mmpose_decode(heat, tags):
                k3 = np.concatenate([kp - 0.5, ks[..., None]], axis=-1)  # codec adds its 0.5 centre shift
                preds.append(list(zip(k3, isc)))
            row["mmpose codec"] = {"ap": oks_ap(scenes, preds), "ms": float("nan")}
        out[name] = row
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--images", type=int, default=None)
    ap.add_argument("--ap-only", action="store_true", help="leave out the timing columns (the README table)")
    args = ap.parse_args(argv)
    n = args.images or (6 if args.quick else 24)
    presets = [p for p in ("higherhrnet", "mmpose", "omz", "accurate") if p in hrdecode.PRESETS]
    t0 = time.perf_counter()
    res = run(n, presets)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    cols = presets + (["mmpose codec"] if any("mmpose codec" in r for r in res.values()) else [])
    timed = [] if args.ap_only else presets
    print(f"OKS AP (x100) on synthetic scene sets, {n} images of 17x{SIZE}x{SIZE} each\n")
    def line(cells):
        print("| " + " | ".join(cells) + " |")

    line(["scene set"] + [f"`{c}`" if c in presets else c for c in cols] + [f"`{p}` ms" for p in timed])
    line(["---"] + ["---:"] * (len(cols) + len(timed)))
    for name, row in res.items():
        line([name] + [f"{100 * row[c]['ap']:.1f}" for c in cols] + [f"{row[p]['ms']:.2f}" for p in timed])
    mean = {c: float(np.mean([r[c]["ap"] for r in res.values()])) for c in cols}
    line(["**mean**"] + [f"**{100 * mean[c]:.1f}**" for c in cols] + ["" for _ in timed])
    print(f"\n_Measured in {time.perf_counter() - t0:.0f} s._")
    return 0


if __name__ == "__main__":
    sys.exit(main())
