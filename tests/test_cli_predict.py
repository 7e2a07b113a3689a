"""`hrdecode export`, `hrdecode predict` and `hrdecode eval` on generated images and videos."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="the predictor needs opencv-python")
pytest.importorskip("torch", reason="export needs torch (pip install 'hrdecode[torch]')")
pytest.importorskip("onnxruntime", reason="pip install 'hrdecode[onnx]'")
pytest.importorskip("onnx", reason="pip install 'hrdecode[onnx]'")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hrdecode", *args], capture_output=True, text=True, timeout=600)


def person_image(h: int, w: int, seed: int) -> np.ndarray:
    """A noisy image with a few bright stick figures: something for a random network to respond to."""
    rng = np.random.default_rng(seed)
    img = (rng.random((h, w, 3)) * 60).astype(np.uint8)
    for _ in range(3):
        x, y = int(rng.uniform(0.2, 0.8) * w), int(rng.uniform(0.2, 0.6) * h)
        cv2.line(img, (x, y), (x, y + h // 4), (230, 230, 230), 3)
        cv2.line(img, (x - 15, y + 10), (x + 15, y + 10), (230, 230, 230), 3)
        cv2.circle(img, (x, y - 8), 7, (250, 250, 250), -1)
    return img


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    import torch

    from test_predictor import random_w32

    d = tmp_path_factory.mktemp("model")
    # Random weights scaled to give O(1) outputs (the official initialisation gives ~1e-10 and no people),
    # saved as a checkpoint so that `export --checkpoint` is exercised too.
    torch.save(random_w32(seed=3).state_dict(), d / "random_w32.pth")
    out = d / "w32.onnx"
    p = run("export", "--arch", "higherhrnet_w32", "--checkpoint", str(d / "random_w32.pth"), "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "wrote" in p.stdout and "random_w32.pth" in p.stdout
    assert out.is_file() and not (out.parent / "w32.onnx.partial").exists()
    return str(out)


def test_export_rejects_bad_arguments(tmp_path):
    p = run("export", "--arch", "higherhrnet_w99", "--out", str(tmp_path / "m.onnx"))
    assert p.returncode == 2
    p = run("export", "--checkpoint", str(tmp_path / "none.pth"), "--out", str(tmp_path / "m.onnx"))
    assert p.returncode == 2 and "none.pth" in p.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_predict_images_folder_and_video(onnx_model, tmp_path):
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for i, (h, w) in enumerate([(120, 160), (120, 160), (150, 100)]):
        cv2.imwrite(str(imgs / f"{i + 1:012d}.png"), person_image(h, w, i))
    (imgs / "notes.txt").write_text("not an image")
    video = tmp_path / "clip.avi"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (128, 96))
    for i in range(3):
        wr.write(person_image(96, 128, 10 + i))
    wr.release()
    out = tmp_path / "res.json"
    vis = tmp_path / "vis"
    p = run("predict", str(imgs), str(video), "--model", onnx_model, "--out", str(out), "--vis-dir", str(vis),
            "--batch-size", "2", "--input-size", "128", "--no-flip", "--device", "cpu")
    assert p.returncode == 0, p.stderr
    recs = json.loads(out.read_text())
    assert isinstance(recs, list) and recs
    assert {r["image_id"] for r in recs} <= {1, 2, 3}
    for r in recs:
        assert set(r) == {"image_id", "category_id", "keypoints", "score"}
        assert r["category_id"] == 1 and len(r["keypoints"]) == 51
        assert all(np.isfinite(r["keypoints"])) and np.isfinite(r["score"])
    lines = (tmp_path / "res.clip.jsonl").read_text().splitlines()
    assert len(lines) == 3
    frames = [json.loads(line) for line in lines]
    assert [f["frame"] for f in frames] == [0, 1, 2]
    assert all(f["image_size"] == [96, 128] and "forward_ms" in f["timings"] for f in frames)
    assert "timing per image/frame" in p.stdout and "forward" in p.stdout
    assert "images [" in p.stderr  # the progress bar
    # Drawings differ from the input where people were found.
    for i in range(3):
        name = f"{i + 1:012d}.png"
        drawn, orig = cv2.imread(str(vis / name)), cv2.imread(str(imgs / name))
        assert drawn.shape == orig.shape
        has_joints = any(r["image_id"] == i + 1 and max(r["keypoints"][2::3]) > 0.1 for r in recs)
        assert (drawn != orig).any() == has_joints
    assert (vis / "clip_pose.mp4").is_file()


def test_predict_reports_broken_inputs_and_keeps_going(onnx_model, tmp_path):
    good = tmp_path / "a.png"
    cv2.imwrite(str(good), person_image(100, 100, 1))
    bad = tmp_path / "b.jpg"
    bad.write_bytes(b"not a jpeg")
    out = tmp_path / "r.json"
    p = run("predict", str(good), str(bad), "--model", onnx_model, "--out", str(out), "--input-size", "128",
            "--no-flip", "--quiet")
    assert p.returncode == 1
    assert "b.jpg" in p.stderr and "not a readable image" in p.stderr
    assert json.loads(out.read_text()) is not None
    # Missing inputs or models: nothing is written.
    out2 = tmp_path / "r2.json"
    p = run("predict", str(tmp_path / "missing.png"), "--model", onnx_model, "--out", str(out2))
    assert p.returncode == 2 and "missing.png" in p.stderr and not out2.exists()
    p = run("predict", str(good), "--model", str(tmp_path / "none.onnx"), "--out", str(out2))
    assert p.returncode == 2 and "none.onnx" in p.stderr and not out2.exists()
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    p = run("predict", str(empty), "--model", onnx_model, "--out", str(out2), "--input-size", "128", "--quiet")
    assert p.returncode == 1 and "empty.mp4" in p.stderr
    assert not (tmp_path / "r2.empty.jsonl").exists()
