"""The model-facing subcommands of ``hrdecode``: ``export``, ``predict``, ``eval``.

Exit codes: 0 success, 1 some inputs failed (the others were processed and written), 2 bad arguments or a
missing/unusable model or input (nothing written).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

COMMANDS = ("export", "predict", "eval")
IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
_STAGES = ("preprocess_ms", "forward_ms", "aggregate_ms", "decode_ms", "total_ms")


def add_parsers(sub: Any) -> None:
    from .models import ARCHS

    ex = sub.add_parser("export", help="export a HigherHRNet model to ONNX (dynamic batch, height, width)")
    ex.add_argument("--arch", choices=ARCHS, default="higherhrnet_w32", help="architecture (default higherhrnet_w32)")
    ex.add_argument("--checkpoint", default=None, help="official .pth weights (default: random initialisation)")
    ex.add_argument("--out", required=True, help="the .onnx file to write")
    ex.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    ex.add_argument("--exporter", choices=("auto", "torchscript", "dynamo"), default="auto",
                    help="torch exporter (default auto: torchscript when available)")

    pr = sub.add_parser("predict", help="pose estimation on images, folders and videos")
    pr.add_argument("paths", nargs="+", help="images, folders of images, videos")
    pr.add_argument("--model", required=True, help=".onnx (hrdecode export or Open Model Zoo) or .pth checkpoint")
    pr.add_argument("--arch", choices=ARCHS, default="higherhrnet_w32", help="architecture of a .pth checkpoint")
    pr.add_argument("--out", required=True, help="COCO results JSON for the images; each video VIDEO gets "
                                                 "OUT-stem.VIDEO-stem.jsonl, one line per frame")
    pr.add_argument("--vis-dir", default=None, help="write images (and videos) with the skeletons drawn here")
    pr.add_argument("--batch-size", type=int, default=1, help="images/frames per network call (default 1)")
    pr.add_argument("--no-flip", action="store_true", help="skip the flip test (about 2x faster)")
    pr.add_argument("--scales", type=float, nargs="+", default=[1.0], help="test scales (default 1.0)")
    pr.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default auto")
    pr.add_argument("--input-size", type=int, default=None, help="short side of the network input "
                                                                 "(default: the architecture's, 512 for W32)")
    pr.add_argument("--preset", choices=("higherhrnet", "mmpose", "accurate"), default="higherhrnet",
                    help="decoder preset for HigherHRNet-layout models (default higherhrnet; OMZ models use omz)")
    pr.add_argument("--threshold", type=float, default=0.1, help="joint score threshold for drawing (default 0.1)")
    pr.add_argument("--quiet", action="store_true", help="no progress bar")

    ev = sub.add_parser("eval", help="OKS AP of a results JSON against COCO-format keypoint annotations")
    ev.add_argument("--gt", required=True, help="annotation JSON (COCO keypoints format)")
    ev.add_argument("--results", required=True, help="results JSON (hrdecode predict --out)")
    ev.add_argument("--sigmas", type=float, nargs="+", default=None,
                    help="per-joint OKS sigmas for non-COCO keypoint sets, on pycocotools' scale (COCO's nose is "
                         "0.026; default: COCO's 17)")


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "export":
            return _export(args)
        if args.command == "predict":
            return _predict(args)
        return _eval(args)
    except (FileNotFoundError, ValueError, TypeError, ImportError, RuntimeError) as e:
        print(f"hrdecode {args.command}: error: {e}", file=sys.stderr)
        return 2


def _export(args: argparse.Namespace) -> int:
    from .export import export_onnx

    t0 = time.perf_counter()
    path = export_onnx(args.arch, args.out, checkpoint=args.checkpoint, opset=args.opset, exporter=args.exporter)
    weights = args.checkpoint or "random initialisation (no --checkpoint)"
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.1f} MB, {args.arch}, weights: {weights}) in "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from .coco import evaluate

    stats = evaluate(args.gt, args.results, sigmas=args.sigmas)
    for k, v in stats.items():
        print(f"{k:5s} {v:.4f}")
    return 0


def _collect(paths: List[str]) -> Tuple[List[str], List[str]]:
    images, videos = [], []
    for p in paths:
        if os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                f = os.path.join(p, name)
                ext = os.path.splitext(name)[1].lower()
                if os.path.isfile(f) and ext in IMAGE_EXTS:
                    images.append(f)
                elif os.path.isfile(f) and ext in VIDEO_EXTS:
                    videos.append(f)
        elif os.path.isfile(p):
            (videos if os.path.splitext(p)[1].lower() in VIDEO_EXTS else images).append(p)
        else:
            raise FileNotFoundError(f"no such file or folder {p!r}")
    return images, videos


def _image_id(path: str) -> Any:
    # COCO file names are the zero-padded image id; anything else keeps its path.
    stem = os.path.splitext(os.path.basename(path))[0]
    return int(stem) if stem.isdigit() else path


class _Progress:
    def __init__(self, total: Optional[int], label: str, quiet: bool) -> None:
        self.total, self.label, self.quiet, self.n = total, label, quiet, 0
        self.t0 = time.perf_counter()

    def step(self, k: int = 1) -> None:
        self.n += k
        if self.quiet:
            return
        dt = time.perf_counter() - self.t0
        rate = self.n / dt if dt > 0 else 0.0
        if self.total:
            width = 30
            fill = int(width * self.n / self.total)
            bar = "#" * fill + "." * (width - fill)
            print(f"\r{self.label} [{bar}] {self.n}/{self.total} {rate:.2f}/s", end="", file=sys.stderr, flush=True)
        else:
            print(f"\r{self.label} {self.n} {rate:.2f}/s", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if not self.quiet and self.n:
            print(file=sys.stderr)


def _predict(args: argparse.Namespace) -> int:
    if args.batch_size < 1:
        raise ValueError(f"--batch-size: expected >= 1, got {args.batch_size}")
    images, videos = _collect(args.paths)
    if not images and not videos:
        raise ValueError(f"no images or videos found in {args.paths}")
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if not os.path.isdir(out_dir):
        raise FileNotFoundError(f"--out: directory {out_dir!r} does not exist")
    from . import coco
    from .predictor import Predictor, load_image

    p = Predictor(args.model, arch=args.arch, device=args.device, flip=not args.no_flip, scales=tuple(args.scales),
                  input_size=args.input_size, preset=args.preset)
    print(f"model {args.model}: {p}", file=sys.stderr)
    if args.vis_dir:
        os.makedirs(args.vis_dir, exist_ok=True)
    stage_sums: Dict[str, float] = {k: 0.0 for k in _STAGES}
    n_done, failures = 0, []

    def account(r: Any) -> None:
        nonlocal n_done
        n_done += 1
        for k in _STAGES:
            stage_sums[k] += r.timings.get(k, 0.0)

    records: List[Dict[str, Any]] = []
    if images:
        bar = _Progress(len(images), "images", args.quiet)
        for i in range(0, len(images), args.batch_size):
            chunk, arrays = [], []
            for f in images[i:i + args.batch_size]:
                try:
                    arrays.append(load_image(f))
                    chunk.append(f)
                except (FileNotFoundError, ValueError) as e:
                    failures.append(str(e))
                    bar.step()
            for f, img, r in zip(chunk, arrays, p.predict_batch(arrays, chunk) if arrays else []):
                records += coco.results_to_coco(r, _image_id(f))
                account(r)
                if args.vis_dir:
                    _write_image(os.path.join(args.vis_dir, os.path.basename(f)), coco.draw_skeleton(
                        img, r.keypoints, args.threshold))
                bar.step()
        bar.close()
        coco.write_json(args.out, records)
        print(f"wrote {args.out}: {len(records)} people in {len(images) - len(failures)} images")
    for v in videos:
        failures += _predict_video(p, v, args, account)
    if n_done:
        print(f"timing per image/frame, mean over {n_done} (ms): " +
              ", ".join(f"{k[:-3]} {stage_sums[k] / n_done:.1f}" for k in _STAGES))
    for f in failures:
        print(f"skipped: {f}", file=sys.stderr)
    return 1 if failures else 0


def _write_image(path: str, img: Any) -> None:
    import cv2

    if not cv2.imwrite(path, img):
        raise ValueError(f"--vis-dir: cannot write {path!r}")


def _predict_video(p: Any, video: str, args: argparse.Namespace, account: Any) -> List[str]:
    import cv2
    import numpy as np

    from . import coco
    from .predictor import read_frames

    stem = os.path.splitext(args.out)[0]
    out = f"{stem}.{os.path.splitext(os.path.basename(video))[0]}.jsonl"
    tmp = out + ".partial"
    cap = cv2.VideoCapture(video)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    fps = cap.get(cv2.CAP_PROP_FPS) if cap.isOpened() else 0.0
    cap.release()
    bar = _Progress(total or None, os.path.basename(video), args.quiet)
    failures: List[str] = []
    writer = None
    frames = 0
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for r in p.stream(video, batch_size=args.batch_size):
                frames += 1
                line = {"frame": r.source, "image_size": list(r.image_size),
                        "people": [{"keypoints": rec["keypoints"], "score": rec["score"]}
                                   for rec in coco.results_to_coco(r, r.source)],
                        "timings": {k: round(v, 3) for k, v in r.timings.items()}}
                if r.error:
                    line["error"] = r.error
                    failures.append(f"{video} frame {r.source}: {r.error}")
                else:
                    account(r)
                f.write(json.dumps(line) + "\n")
                bar.step()
        if args.vis_dir:
            # A second pass keeps memory bounded: frames are re-read, not kept.
            vis_path = os.path.join(args.vis_dir, os.path.splitext(os.path.basename(video))[0] + "_pose.mp4")
            with open(tmp, encoding="utf-8") as lines:
                for frame, line in zip(read_frames(video), lines):
                    people = [q["keypoints"] for q in json.loads(line)["people"]]
                    kp = (np.array(people, dtype=np.float32).reshape(len(people), -1, 3) if people
                          else np.zeros((0, 1, 3), np.float32))
                    if writer is None:
                        writer = cv2.VideoWriter(vis_path, cv2.VideoWriter_fourcc(*"mp4v"), fps or 25.0,
                                                 (frame.shape[1], frame.shape[0]))
                    writer.write(coco.draw_skeleton(frame, kp, args.threshold))
        os.replace(tmp, out)
    except (FileNotFoundError, ValueError) as e:
        failures.append(f"{video}: {e}")
    finally:
        if writer is not None:
            writer.release()
        if os.path.exists(tmp):
            os.remove(tmp)
        bar.close()
    if os.path.exists(out):
        print(f"wrote {out}: {frames} frames")
    return failures
