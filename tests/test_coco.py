"""COCO result records, JSON writing and skeleton drawing."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hrdecode import coco
from hrdecode.predictor import PredictResult


def result(P, K=17, seed=0):
    rng = np.random.default_rng(seed)
    kp = np.concatenate([rng.uniform(10, 90, (P, K, 2)), rng.uniform(0, 1, (P, K, 1))], axis=2).astype(np.float32)
    return PredictResult(kp, rng.uniform(0, 1, P).astype(np.float32))


def test_records_are_flat_coco_results(tmp_path):
    r = result(3)
    recs = coco.results_to_coco(r, image_id=139)
    assert len(recs) == 3
    for p, rec in enumerate(recs):
        assert set(rec) == {"image_id", "category_id", "keypoints", "score"}
        assert rec["image_id"] == 139 and rec["category_id"] == 1
        np.testing.assert_allclose(rec["keypoints"], r.keypoints[p].reshape(-1), atol=1e-3)
        assert rec["score"] == pytest.approx(float(r.scores[p]), abs=1e-6)
    assert coco.results_to_coco(result(0), image_id=1) == []
    path = tmp_path / "r.json"
    coco.write_json(path, recs)
    assert json.loads(path.read_text()) == recs and not (tmp_path / "r.json.partial").exists()
    with pytest.raises(ValueError, match="result"):
        coco.results_to_coco(PredictResult(np.zeros((2, 17)), np.zeros(2)), image_id=1)


def test_drawing_changes_pixels_only_where_joints_are():
    pytest.importorskip("cv2")
    img = np.full((100, 100, 3), 40, np.uint8)
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, 5] = [20, 30, 0.9]   # left shoulder
    kp[0, 7] = [20, 70, 0.9]   # left elbow: the (5, 7) limb is drawn
    kp[0, 0] = [80, 80, 0.05]  # nose below the threshold: not drawn
    out = coco.draw_skeleton(img, kp, threshold=0.1)
    assert out is not img and (img == 40).all()  # the input is untouched
    changed = (out != img).any(axis=2)
    assert changed[30, 20] and changed[50, 20] and changed[70, 20]  # both joints and the limb between
    assert not changed[80, 80] and not changed[5:15, 60:95].any()
    assert (coco.draw_skeleton(img, np.zeros((0, 17, 3))) == img).all()
    with pytest.raises(ValueError, match="image"):
        coco.draw_skeleton(img[..., 0], kp)
    with pytest.raises(ValueError, match="keypoints"):
        coco.draw_skeleton(img, kp[0])


def test_skeleton_and_sigmas_are_coco():
    assert len(coco.COCO_SKELETON) == 19 and len(coco.COCO_SIGMAS) == 17
    assert all(0 <= a < 17 and 0 <= b < 17 for a, b in coco.COCO_SKELETON)
    # pycocotools' own constants, when it is installed.
    cocoeval = pytest.importorskip("pycocotools.cocoeval")
    np.testing.assert_allclose(cocoeval.Params(iouType="keypoints").kpt_oks_sigmas, coco.COCO_SIGMAS)


def _gt_and_perfect_results(tmp_path, num_joints):
    from hrdecode import synthetic

    scenes = [synthetic.make_scene(height=96, width=96, num_people=3, seed=s, num_joints=num_joints) for s in range(2)]
    gt = synthetic.to_coco(scenes)
    gt_path = tmp_path / f"gt{num_joints}.json"
    gt_path.write_text(json.dumps(gt))
    res = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
           for a in gt["annotations"]]
    res_path = tmp_path / f"res{num_joints}.json"
    res_path.write_text(json.dumps(res))
    return gt_path, res_path, res


def test_eval_cli_and_custom_sigmas(tmp_path):
    pytest.importorskip("pycocotools")
    import subprocess
    import sys

    gt_path, res_path, res = _gt_and_perfect_results(tmp_path, 17)
    p = subprocess.run([sys.executable, "-m", "hrdecode", "eval", "--gt", str(gt_path), "--results", str(res_path)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split()[0] == "AP" and float(p.stdout.split()[1]) > 0.99
    p = subprocess.run([sys.executable, "-m", "hrdecode", "eval", "--gt", str(gt_path), "--results", str(res_path),
                        "--sigmas", "0.5", "0.5"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and "sigmas" in p.stderr
    # COCO's sigmas passed explicitly change nothing; shifted keypoints lower the AP.
    assert coco.evaluate(gt_path, res_path, sigmas=coco.COCO_SIGMAS) == coco.evaluate(gt_path, res_path)
    moved = [dict(r, keypoints=[v + (6.0 if i % 3 != 2 else 0) for i, v in enumerate(r["keypoints"])]) for r in res]
    assert coco.evaluate(gt_path, moved)["AP"] < 0.9
    # Another keypoint set (5 joints) with its own sigmas: wide sigmas forgive the same shift.
    gt5, res5, r5 = _gt_and_perfect_results(tmp_path, 5)
    moved5 = [dict(r, keypoints=[v + (6.0 if i % 3 != 2 else 0) for i, v in enumerate(r["keypoints"])]) for r in r5]
    tight = coco.evaluate(gt5, moved5, sigmas=[0.02] * 5)["AP"]
    wide = coco.evaluate(gt5, moved5, sigmas=[1.0] * 5)["AP"]
    assert wide > 0.99 > tight
    assert coco.evaluate(gt5, res5, sigmas=[0.05] * 5)["AP"] > 0.99
    with pytest.raises(FileNotFoundError, match="gt"):
        coco.evaluate(tmp_path / "none.json", res)


def test_importing_the_package_loads_no_heavy_dependency():
    # numpy is the only hard dependency: torch, OpenCV, ONNX Runtime and Ray load only when used.
    import subprocess
    import sys

    code = ("import sys, hrdecode, hrdecode.models, hrdecode.predictor, hrdecode.coco, hrdecode.export, "
            "hrdecode.ray_data, hrdecode.cli\n"
            "heavy = [m for m in ('torch', 'cv2', 'onnxruntime', 'onnx', 'ray', 'pycocotools') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
