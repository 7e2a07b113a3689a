"""OKS AP of every preset on synthetic scene sets with known sub-pixel ground truth (the README accuracy table).

    python bench/accuracy.py            # all scene sets, 24 images each
    python bench/accuracy.py --quick    # 6 images per set (CI smoke run)
    python bench/accuracy.py --json

Each scene set is ``hrdecode.synthetic.make_scene`` with one generator setting changed from the defaults
(17 COCO joints, 128x128 maps, so no result depends on one generator configuration): peak sigma, heat noise
and spurious peaks, person size, tag noise and spacing, crowd level, 2-D (flip-style) tags. Every preset decodes
the same maps (the ``omz`` preset gets the OMZ model-style signed maps of the same scene); predictions are
moved to pixel-index coordinates by subtracting the decoder's ``coordinate_offset`` and scored with
pycocotools' keypoint OKS AP (COCO sigmas; the GT box area from ``synthetic.to_coco``), with up to 100
people per image scored instead of COCO's 20 (the crowded set has 25 people per image: with COCO's cap its
recall could not exceed 0.8). Where mmpose is
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
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

import hrdecode
from hrdecode import synthetic

from bench_scenes import oracles

SIZE = 128
MAX_DETS = 100
UDP = "mmpose, use_udp"
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
    # COCO keeps the 20 best-scored people per image; a crowded set has more people than that, so the
    # cap is raised (to MAX_DETS) and AP is read off the precision table directly (COCOeval.summarize
    # hard-codes 20).
    ev.params.maxDets = [MAX_DETS]
    _quiet(ev.evaluate)
    _quiet(ev.accumulate)
    prec = ev.eval["precision"][:, :, 0, 0, 0]  # IoU thresholds x recall points, all areas
    return float(prec[prec > -1].mean()) if (prec > -1).any() else 0.0


#: --ablation: the accurate preset with one ingredient changed at a time, and DARK added to the references.
#: name -> (preset, overrides); the omz preset decodes signed OMZ-style maps, everything else plain maps.
ABLATION: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "accurate": ("accurate", {}),
    "no DARK": ("accurate", dict(dark=False)),
    "model_api tag pairing": ("accurate", dict(refine_own_tag=False)),
    "neither": ("accurate", dict(dark=False, refine_own_tag=False)),
    "blur 5": ("accurate", dict(blur_kernel=5)),
    "NMS 3x3": ("accurate", dict(nms_kernel=3)),
    "60 candidates": ("accurate", dict(max_people=60)),
    "pose threshold 0.1": ("accurate", dict(pose_threshold=0.1)),
    "threshold 0.1 + model_api pairing": ("accurate", dict(pose_threshold=0.1, refine_own_tag=False)),
    "omz": ("omz", {}),
    "omz + DARK": ("omz", dict(dark=True)),
    "higherhrnet + DARK": ("higherhrnet", dict(dark=True)),
}


def run(n_images: int, presets: Sequence[str],
        configs: Optional[Dict[str, Tuple[str, Dict[str, Any]]]] = None, codec: bool = True) -> Dict[str, Any]:
    """AP and mean decode ms per scene set and decoder; configs: name -> (preset, overrides) (default: each
    preset of `presets` as is)."""
    mm_ok = codec and (oracles.mmpose_available()[0] if hasattr(oracles, "mmpose_available") else False)
    if configs is None:
        configs = {p: (p, {}) for p in presets}
        if "mmpose" in presets:
            configs = {**{p: configs[p] for p in presets if p != "accurate"}, UDP: ("mmpose", dict(use_udp=True)),
                       **({"accurate": configs["accurate"]} if "accurate" in configs else {})}
    out: Dict[str, Any] = {}
    for name, params in SCENE_SETS.items():
        scenes = [synthetic.make_scene(height=SIZE, width=SIZE, seed=1000 + i, **params) for i in range(n_images)]
        row: Dict[str, Any] = {}
        for cname, (preset, overrides) in configs.items():
            dec = hrdecode.Decoder(preset, **overrides)
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
            row[cname] = {"ap": oks_ap(scenes, preds), "ms": float(np.mean(ms))}
        if mm_ok:
            heat = np.stack([s.heatmaps for s in scenes])
            tags = np.stack([s.tags for s in scenes])
            preds = []
            for kp, ks, isc in oracles.mmpose_decode(heat, tags):
                k3 = np.concatenate([kp - 0.5, ks[..., None]], axis=-1)  # codec adds its 0.5 centre shift
                preds.append(list(zip(k3, isc)))
            row["mmpose codec"] = {"ap": oks_ap(scenes, preds), "ms": float("nan")}
            if UDP in configs:
                preds = []
                for kp, ks, isc in oracles.mmpose_decode(heat, tags, use_udp=True):
                    preds.append(list(zip(np.concatenate([kp - 0.5, ks[..., None]], axis=-1), isc)))
                row["mmpose codec, use_udp"] = {"ap": oks_ap(scenes, preds), "ms": float("nan")}
        out[name] = row
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--images", type=int, default=None)
    ap.add_argument("--ap-only", action="store_true", help="leave out the timing columns (the README table)")
    ap.add_argument("--ablation", action="store_true",
                    help="the accurate preset with one ingredient changed at a time (AP only)")
    args = ap.parse_args(argv)
    n = args.images or (6 if args.quick else 24)
    if args.ablation:
        return ablation(n)
    presets = [p for p in ("higherhrnet", "mmpose", "omz", "accurate") if p in hrdecode.PRESETS]
    t0 = time.perf_counter()
    res = run(n, presets)
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    first = next(iter(res.values()))
    ours = [c for c in first if c not in ("mmpose codec", "mmpose codec, use_udp")]
    cols = ours + [c for c in ("mmpose codec", "mmpose codec, use_udp") if c in first]
    presets = ours
    timed = [] if args.ap_only else ours
    print(f"OKS AP (x100) on synthetic scene sets, {n} images of 17x{SIZE}x{SIZE} each\n")
    def line(cells):
        print("| " + " | ".join(cells) + " |")

    refs = [c for c in cols if c != "accurate"]
    gain = "accurate" in presets
    extra = ["`accurate` - best other"] if gain else []
    line(["scene set"] + [f"`{c}`" if c in presets else c for c in cols] + extra + [f"`{p}` ms" for p in timed])
    line(["---"] + ["---:"] * (len(cols) + len(extra) + len(timed)))
    for name, row in res.items():
        g = [f"{100 * (row['accurate']['ap'] - max(row[c]['ap'] for c in refs)):+.1f}"] if gain else []
        line([name] + [f"{100 * row[c]['ap']:.1f}" for c in cols] + g + [f"{row[p]['ms']:.2f}" for p in timed])
    mean = {c: float(np.mean([r[c]["ap"] for r in res.values()])) for c in cols}
    g = [f"**{100 * (mean['accurate'] - max(mean[c] for c in refs)):+.1f}**"] if gain else []
    ms_mean = {p: float(np.mean([r[p]["ms"] for r in res.values()])) for p in timed}
    line(["**mean**"] + [f"**{100 * mean[c]:.1f}**" for c in cols] + g + [f"{ms_mean[p]:.2f}" for p in timed])
    if gain and "higherhrnet" in ms_mean:
        print(f"\nDecode time of `accurate` / `higherhrnet` (mean over the sets, one image per call, "
              f"default threads): {ms_mean['accurate'] / ms_mean['higherhrnet']:.2f}x")
    print(f"\n_Measured in {time.perf_counter() - t0:.0f} s._")
    return 0


def ablation(n: int) -> int:
    t0 = time.perf_counter()
    res = run(n, [], ABLATION, codec=False)
    names = list(ABLATION)
    print(f"OKS AP (x100): the `accurate` preset with one ingredient changed, {n} images of 17x{SIZE}x{SIZE} "
          f"per set\n")
    print("| scene set | " + " | ".join(names) + " |")
    print("| --- |" + " ---: |" * len(names))
    for name, row in res.items():
        print(f"| {name} | " + " | ".join(f"{100 * row[c]['ap']:.1f}" for c in names) + " |")
    mean = [float(np.mean([r[c]["ap"] for r in res.values()])) for c in names]
    print("| **mean** | " + " | ".join(f"**{100 * m:.1f}**" for m in mean) + " |")
    print(f"\n_Measured in {time.perf_counter() - t0:.0f} s._")
    return 0


if __name__ == "__main__":
    sys.exit(main())
