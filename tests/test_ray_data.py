"""PoseBatchPredictor: the map_batches class, called directly and through a local Ray cluster."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2", reason="the predictor needs opencv-python")
torch = pytest.importorskip("torch", reason="the test model is exported from torch")
pytest.importorskip("onnxruntime", reason="pip install 'hrdecode[onnx]'")

from hrdecode.ray_data import PoseBatchPredictor  # noqa: E402
from test_predictor import BlobNet, blob_image  # noqa: E402


@pytest.fixture(scope="module")
def blob_onnx(tmp_path_factory):
    """BlobNet as an ONNX file in the hrdecode layout: Ray workers load it by path."""
    path = str(tmp_path_factory.mktemp("ray") / "blob.onnx")
    torch.onnx.export(BlobNet(), (torch.zeros(1, 3, 128, 128),), path, input_names=["image"],
                      output_names=["hh_stage0", "hh_stage1"], dynamo=False,
                      dynamic_axes={"image": {0: "N", 2: "H", 3: "W"}})
    return path


def scenes():
    # 0, 1 and 2 people, two image sizes, and one broken row.
    return [blob_image(96, 128, []), blob_image(96, 128, [(40.0, 50.0)]),
            blob_image(128, 96, [(30.0, 30.0), (60.0, 90.0)]), np.zeros((96, 128), np.uint8)]


def test_batch_call_gives_ragged_rows_and_errors(blob_onnx):
    f = PoseBatchPredictor(blob_onnx, input_size=128, flip=False)
    imgs = scenes()
    out = f({"image": np.array(imgs, dtype=object), "id": np.arange(4)})
    assert out["id"].tolist() == [0, 1, 2, 3]
    assert out["num_people"].tolist() == [0, 1, 2, 0]
    assert [len(k) for k in out["keypoints"]] == [0, 51, 102, 0]
    assert [len(s) for s in out["scores"]] == [0, 1, 2, 0]
    assert out["error"][3] and "grayscale" in out["error"][3] and out["error"][:3].tolist() == ["", "", ""]
    kp = np.array(out["keypoints"][1], np.float32).reshape(1, -1, 3)
    assert np.abs(kp[0, :, 0] - 40).max() < 2 and np.abs(kp[0, :, 1] - 50).max() < 2
    pa = pytest.importorskip("pyarrow")
    table = pa.table({k: (list(v) if isinstance(v, np.ndarray) and v.dtype == object else v) for k, v in out.items()})
    assert table.num_rows == 4 and table.column("keypoints").type == pa.list_(pa.float64())
    with pytest.raises(ValueError, match="channel_order"):
        PoseBatchPredictor(blob_onnx, channel_order="bgra")
    with pytest.raises(ValueError, match="column 'image'"):
        f({"frames": np.zeros(1)})


@pytest.mark.slow
def test_map_batches_on_local_ray(blob_onnx):
    ray = pytest.importorskip("ray", reason="pip install 'ray[data]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        items = [{"image": im, "id": i} for i, im in enumerate(scenes()[:3])]
        ds = ray.data.from_items(items)
        poses = ds.map_batches(PoseBatchPredictor, fn_constructor_kwargs={"model": blob_onnx},
                               fn_kwargs={}, batch_size=2, concurrency=1,
                               fn_constructor_args=(), batch_format="numpy")
        rows = sorted(poses.take_all(), key=lambda r: r["id"])
        assert [r["num_people"] for r in rows] == [0, 1, 2]
        assert [len(r["keypoints"]) for r in rows] == [0, 51, 102]
        # The results materialise as Arrow blocks even though the number of people varies.
        table = ray.get(poses.to_arrow_refs())
        assert sum(t.num_rows for t in table) == 3
    finally:
        ray.shutdown()
