"""Pose estimation as a Ray Data stage: a callable class for ``Dataset.map_batches``.

>>> ds = ray.data.read_images("s3://bucket/frames/", include_paths=True)      # RGB "image" column
>>> poses = ds.map_batches(PoseBatchPredictor, fn_constructor_kwargs={"model": "w32.onnx", "channel_order": "rgb"},
...                        batch_size=8, concurrency=4)                        # 4 actors, one model each
>>> poses.write_parquet("poses/")

Ray itself is not imported here: the class only has to be constructible and callable on a batch dict, so
it also works (and is tested) without a cluster.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

__all__ = ["PoseBatchPredictor"]


class PoseBatchPredictor:
    """Loads a :class:`hrdecode.Predictor` once (Ray creates one instance per actor) and maps batches.

    Args:
        model, **predictor_kwargs: as for :class:`hrdecode.Predictor`.
        image_column: the column with HxWx3 uint8 images (or paths to image files).
        channel_order: "bgr" (OpenCV) or "rgb" (``ray.data.read_images``, PIL).
        keep_columns: input columns copied to the output (for example ``"path"``); None keeps all but the
            images.

    Output columns, one row per input row, all Arrow-friendly whatever the number of people P:
    ``num_people`` int32, ``scores`` list<float32> (P), ``keypoints`` list<float32> (P*K*3, x y score per joint,
    row-major: reshape with ``(num_people, -1, 3)``), ``image_height``/``image_width`` int32, ``error`` string
    ("" when fine).
    """

    def __init__(self, model: Any, image_column: str = "image", channel_order: str = "bgr",
                 keep_columns: Optional[List[str]] = None, **predictor_kwargs: Any) -> None:
        from .predictor import Predictor

        if channel_order not in ("bgr", "rgb"):
            raise ValueError(f"channel_order: expected 'bgr' or 'rgb', got {channel_order!r}")
        self.image_column = image_column
        self.channel_order = channel_order
        self.keep_columns = keep_columns
        self.predictor = Predictor(model, **predictor_kwargs)

    def __call__(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        from .predictor import _check_image, load_image

        if self.image_column not in batch:
            raise ValueError(f"batch: expected a column {self.image_column!r}, got columns {sorted(batch)}")
        col = batch[self.image_column]
        n = len(col)
        good: List[Any] = []
        errors: Dict[int, str] = {}
        for i in range(n):
            item = col[i]
            try:
                if isinstance(item, (str, bytes)):
                    img = load_image(item.decode() if isinstance(item, bytes) else item)
                else:
                    img = _check_image(f"{self.image_column}[{i}]", np.asarray(item))
                    if self.channel_order == "rgb":
                        img = np.ascontiguousarray(img[..., ::-1])
                good.append((i, img))
            except (FileNotFoundError, TypeError, ValueError) as e:
                errors[i] = str(e)
        # One call: same-size images go through the network together; a bad image only fails its own row.
        results = dict(zip([i for i, _ in good], self.predictor.predict_batch([im for _, im in good]))) if good else {}
        out: Dict[str, Any] = {}
        for name, values in batch.items():
            if name != self.image_column and (self.keep_columns is None or name in self.keep_columns):
                out[name] = values
        empty = np.zeros((0,), np.float32)
        rows = [results.get(i) for i in range(n)]
        out["num_people"] = np.array([r.num_people if r else 0 for r in rows], dtype=np.int32)
        out["scores"] = [r.scores.astype(np.float32).tolist() if r else empty.tolist() for r in rows]
        out["keypoints"] = [r.keypoints.astype(np.float32).reshape(-1).tolist() if r else empty.tolist() for r in rows]
        out["image_height"] = np.array([r.image_size[0] if r else 0 for r in rows], dtype=np.int32)
        out["image_width"] = np.array([r.image_size[1] if r else 0 for r in rows], dtype=np.int32)
        out["error"] = np.array([errors.get(i, "") for i in range(n)], dtype=object)
        return out
