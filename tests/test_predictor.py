"""The end-to-end predictor: HigherHRNet geometry, flip, aggregation, ONNX Runtime vs PyTorch, batches, streams,
OMZ-layout models and bad input. Models here are either random-weight HigherHRNets or small fakes whose
outputs are known functions of the input image."""
from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2", reason="the predictor needs opencv-python")
torch = pytest.importorskip("torch", reason="these tests build torch models (pip install 'hrdecode[torch]')")
F = torch.nn.functional

import hrdecode  # noqa: E402
from hrdecode import models  # noqa: E402
from hrdecode.predictor import (COCO_FLIP_INDEX, CROWDPOSE_FLIP_INDEX, Predictor, affine_transform,  # noqa: E402
                                multi_scale_size)

COCO_NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
              "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
              "right_knee", "left_ankle", "right_ankle")
K = 17


# ---- fakes ----------------------------------------------------------------------------------------------


class BlobNet(torch.nn.Module):
    """Every joint's heatmap is the input's brightness, average-pooled to 1/4 and 1/2; tags are 0.

    A bright blob centred at input pixel q therefore peaks at q in every projected heatmap, which makes the
    decoded position a known function of where the blob was drawn in the image."""

    def forward(self, x):
        g = (x.mean(1, keepdim=True) + 2.0) / 5.0  # black ~0.003, white ~0.89 after ImageNet normalisation
        h4, h2 = F.avg_pool2d(g, 4), F.avg_pool2d(g, 2)
        s0 = torch.cat([h4.expand(-1, K, -1, -1), torch.zeros_like(h4).expand(-1, K, -1, -1)], 1)
        return [s0.contiguous(), h2.expand(-1, K, -1, -1).contiguous()]


# Joint k sits `_OFF[k]` input pixels to the right of the brightest pixel: left joints (odd) to one side,
# right joints (even) to the other. Such a model is flip-equivariant exactly when the flip swaps k and
# COCO_FLIP_INDEX[k], so a wrong permutation would split every fused peak in two.
_OFF = np.array([0] + [12 if k % 2 else -12 for k in range(1, K)])


class OffsetNet(torch.nn.Module):
    def forward(self, x):
        N, _, H, W = x.shape
        g = x.mean(1).reshape(N, -1)
        idx = g.argmax(1)
        qy, qx = (idx // W).float(), (idx % W).float()
        outs = []
        for stride, ch in ((4, 2 * K), (2, K)):
            h, w = H // stride, W // stride
            yy = torch.arange(h).float()[:, None]
            xx = torch.arange(w).float()[None, :]
            o = torch.zeros(N, ch, h, w)
            for n in range(N):
                for k in range(K):
                    # Input pixel c is at (c - (stride - 1) / 2) / stride in this map (average-pool centres).
                    cx = (qx[n] + float(_OFF[k]) - (stride - 1) / 2) / stride
                    cy = (qy[n] - (stride - 1) / 2) / stride
                    o[n, k] = torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 1.5 ** 2))
            outs.append(o)
        return outs


class CountingNet(torch.nn.Module):
    """Wraps a model and records the batch sizes it was called with."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls = []

    def forward(self, x):
        self.calls.append(tuple(x.shape))
        return self.inner(x)


def blob_image(h, w, centres, sigma=5.0):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w), np.float64)
    for cx, cy in centres:
        img = np.maximum(img, np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sigma ** 2)))
    return np.repeat(np.round(img * 255).astype(np.uint8)[..., None], 3, axis=2)


def random_w32(seed=0):
    """A W32 whose random weights give O(1) outputs (the official init gives ~1e-10)."""
    torch.manual_seed(seed)
    net = models.build_model("higherhrnet_w32")
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                m.weight.mul_(0.5)
    return net.eval()


# ---- geometry -------------------------------------------------------------------------------------------


def test_multi_scale_size_known_values():
    # Landscape 640x480 -> short side 512, long side 682.7 rounded up to 704; k = 480 / 512.
    size, c, s = multi_scale_size(480, 640, 512, 1.0, 1.0)
    assert size == (704, 512) and c.tolist() == [320, 240]
    assert s[0] == pytest.approx(704 / 512 * 480 / 200)
    # Portrait 333x501 (odd): short side (width) 512, height 770.3 -> 832; centre rounded half up.
    size, c, s = multi_scale_size(501, 333, 512, 1.0, 1.0)
    assert size == (512, 832) and c.tolist() == [167, 251] and s[0] == 333 / 200
    # Several scales: the multiple-of-64 rounding happens at the smallest one (341.3 -> 384 at 0.5, so the
    # scale-1 long side is 768, not 704).
    assert multi_scale_size(480, 640, 512, 1.0, 0.5)[0] == (768, 512)
    assert multi_scale_size(480, 640, 512, 0.5, 0.5)[0] == (384, 256)
    assert multi_scale_size(480, 640, 512, 2.0, 1.0)[0] == (1408, 1024)


@pytest.mark.parametrize("h,w", [(480, 640), (501, 333), (97, 211), (256, 256)])
def test_affine_round_trip_and_closed_form(h, w):
    size, c, s = multi_scale_size(h, w, 512, 1.0, 1.0)
    fwd, inv = affine_transform(c, s, size), affine_transform(c, s, size, inverse=True)
    pts = np.array([[0, 0], [w - 1, h - 1], [w / 3, h / 7], [c[0], c[1]]], np.float64)
    q = pts @ fwd[:, :2].T + fwd[:, 2]
    back = q @ inv[:, :2].T + inv[:, 2]
    np.testing.assert_allclose(back, pts, atol=1e-4)
    # Closed form of the reference's inverse: x_img = cx + (x - W/2) * k with k = 200 * scale[0] / W.
    k = 200 * s[0] / size[0]
    np.testing.assert_allclose(back, np.stack([c[0] + (q[:, 0] - size[0] / 2) * k,
                                               c[1] + (q[:, 1] - size[1] / 2) * k], 1), atol=1e-4)
    # The image fits, centred, inside the network input, up to the half image pixel by which the reference's
    # integer centre can shift it.
    corners = np.array([[0, 0], [w, h]], np.float64) @ fwd[:, :2].T + fwd[:, 2]
    slack = 0.5 / k + 1e-3
    assert (corners >= -slack).all()
    assert (corners[:, 0] <= size[0] + slack).all() and (corners[:, 1] <= size[1] + slack).all()


def test_flip_indices_swap_left_and_right():
    for idx in (COCO_FLIP_INDEX, CROWDPOSE_FLIP_INDEX):
        assert sorted(idx) == list(range(len(idx)))
        assert all(idx[idx[i]] == i for i in range(len(idx)))  # an involution
    for i, j in enumerate(COCO_FLIP_INDEX):
        a, b = COCO_NAMES[i], COCO_NAMES[j]
        if a == "nose":
            assert b == "nose"
        else:
            assert a.split("_", 1)[1] == b.split("_", 1)[1] and a.split("_")[0] != b.split("_")[0]


# ---- known-position round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("h,w,flip", [(160, 224, True), (251, 130, True), (97, 211, False), (128, 128, True)])
def test_blob_lands_on_its_image_position(h, w, flip):
    rng = np.random.default_rng(h * w)
    p = Predictor(BlobNet(), flip=flip, input_size=128)
    for _ in range(2):
        cx, cy = rng.uniform(0.3, 0.7) * w, rng.uniform(0.3, 0.7) * h
        res = p(blob_image(h, w, [(cx, cy)]))
        assert res.image_size == (h, w)
        assert res.num_people == 1
        kp = res.keypoints[0]
        assert (kp[:, 2] > 0.5).all()
        size, _, s = multi_scale_size(h, w, 128, 1.0, 1.0)
        k = 200 * s[0] / size[0]
        # HigherHRNet's convention: a peak at input pixel i decodes to i + 0.5 (+-0.25 towards the higher
        # neighbour), so the image position is the blob centre + 0.5 input pixels, within a quarter pixel.
        err = np.abs(kp[:, :2] - (np.array([cx, cy]) + 0.5 * k))
        assert err.max() <= 0.3 * k + 0.05, (err.max(), k)


def test_flip_permutation_aligns_flipped_maps():
    img = blob_image(150, 200, [(80.0, 70.0)], sigma=2.0)
    with_flip = Predictor(OffsetNet(), flip=True, input_size=128)
    no_flip = Predictor(OffsetNet(), flip=False, input_size=128)
    hf, tf, _ = with_flip.maps(img)
    hn, tn, _ = no_flip.maps(img)
    assert tf.shape[-1] == 2 and tn.shape[-1] == 1
    # An equivariant model with the right permutation gives the same fused peaks with and without flip.
    np.testing.assert_allclose(hf.max(axis=(1, 2)), hn.max(axis=(1, 2)), rtol=0.02)
    assert (hf.max(axis=(1, 2)) > 0.9).all()
    np.testing.assert_array_equal(hf.reshape(K, -1).argmax(1), hn.reshape(K, -1).argmax(1))
    # Without the permutation (identity flip index) left and right joints split into two half peaks.
    wrong = Predictor(OffsetNet(), flip=True, input_size=128, flip_index=list(range(K)))
    hw, _, _ = wrong.maps(img)
    assert hw[1:].max(axis=(1, 2)).max() < 0.6
    # Decoded joints: k's x offset in image pixels is _OFF[k] input pixels.
    res = with_flip(img)
    assert res.num_people == 1
    size, _, s = multi_scale_size(150, 200, 128, 1.0, 1.0)
    kx = 200 * s[0] / size[0]
    dx = res.keypoints[0, :, 0] - res.keypoints[0, 0, 0]
    np.testing.assert_allclose(dx, _OFF * kx, atol=0.5 * kx)


def test_multi_scale_averages_heatmaps_and_keeps_scale_one_tags():
    img = blob_image(120, 180, [(90.0, 50.0)])
    p1 = Predictor(BlobNet(), flip=True, input_size=128)
    p2 = Predictor(BlobNet(), flip=True, input_size=128, scales=(1.0, 0.5))
    h1, t1, g1 = p1.maps(img)
    h2, t2, g2 = p2.maps(img)
    # Both project to the scale-1 input, whose long side is rounded to 64 at the smallest scale (as the
    # reference does): 192 wide alone, 256 with 0.5. L = 2 either way (only scale 1 contributes tags).
    assert h1.shape == (K, 128, 192) and h2.shape == (K, 128, 256)
    assert t1.shape[-1] == t2.shape[-1] == 2
    peaks = []
    for hm, g in ((h1, g1), (h2, g2)):
        y, x = np.unravel_index(hm[0].argmax(), hm[0].shape)
        peaks.append(g["trans_inv"] @ [x + 0.5, y + 0.5, 1.0])
    np.testing.assert_allclose(peaks[0], [90.5, 50.5], atol=1.5)
    np.testing.assert_allclose(peaks[1], [90.5, 50.5], atol=1.5)
    r = p2(img)
    assert r.num_people == 1
    with pytest.raises(ValueError, match="scales"):
        Predictor(BlobNet(), scales=(0.5, 0.75))
    with pytest.raises(ValueError, match="scales"):
        Predictor(BlobNet(), scales=())


# ---- real network, ONNX Runtime vs PyTorch --------------------------------------------------------------


@pytest.fixture(scope="module")
def random_onnx(tmp_path_factory):
    pytest.importorskip("onnxruntime", reason="pip install 'hrdecode[onnx]'")
    pytest.importorskip("onnx", reason="pip install 'hrdecode[onnx]'")
    from hrdecode.export import export_onnx

    net = random_w32()
    path = export_onnx(net, tmp_path_factory.mktemp("onnx") / "w32.onnx", sample_size=(128, 128))
    return net, path


def test_onnxruntime_and_torch_agree(random_onnx):
    net, path = random_onnx
    img = (np.random.default_rng(5).random((150, 220, 3)) * 255).astype(np.uint8)
    pt = Predictor(net, input_size=128, device="cpu")
    po = Predictor(path, input_size=128, device="cpu")
    assert po.layout == "hh" and po.device == "cpu"
    ht, tt, _ = pt.maps(img)
    ho, to, _ = po.maps(img)
    assert ht.shape == (K, 128, 192) and tt.shape == (K, 128, 192, 2)
    scale = float(np.abs(ht).max())
    np.testing.assert_allclose(ho, ht, atol=2e-5 * scale)
    np.testing.assert_allclose(to, tt, atol=2e-5 * float(np.abs(tt).max()))
    # Identical maps decode to identical people (the decoder is deterministic) ...
    dec = hrdecode.Decoder("higherhrnet")
    a, b = dec(ht, tt), dec(ht.copy(), tt.copy())
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    # ... and the two runtimes' results agree person for person. Maps that differ in the last bits could
    # reorder two candidates of equal rounded cost, so a handful of people may differ (none do here: 477 of
    # 477 identical to 0.01 px with this seed).
    rt, ro = pt(img), po(img)
    assert np.isfinite(rt.keypoints).all() and np.isfinite(ro.keypoints).all()
    assert rt.num_people == ro.num_people > 100
    same = {tuple(np.round(k, 2).ravel()) for k in rt.keypoints} & {tuple(np.round(k, 2).ravel()) for k in ro.keypoints}
    assert len(same) >= 0.95 * rt.num_people
    # Keypoints lie inside the network input's footprint on the image (the image plus the centred padding,
    # where random weights also fire): x within cx -+ (W/2) k.
    size, c, s = multi_scale_size(150, 220, 128, 1.0, 1.0)
    k = 200 * s[0] / size[0]
    det = ro.keypoints[..., 2] > 0
    xy = ro.keypoints[det][:, :2]
    assert (np.abs(xy - c) <= np.array(size) / 2 * k + 1e-3).all()
    assert set(ro.timings) >= {"preprocess_ms", "forward_ms", "aggregate_ms", "decode_ms", "total_ms"}


def test_same_size_images_share_a_batch():
    net = CountingNet(BlobNet())
    p = Predictor(net, input_size=128, flip=True)
    a = blob_image(100, 140, [(50.0, 40.0)])
    b = blob_image(100, 140, [(90.0, 60.0)])
    c = blob_image(140, 100, [(40.0, 90.0)])
    res = p([a, b, c])
    assert [r.image_size for r in res] == [(100, 140), (100, 140), (140, 100)]
    # a and b (same size) in one call of 2 images x 2 (flip), c alone.
    assert sorted(call[0] for call in net.calls) == [2, 4]
    single = [p(x) for x in (a, b, c)]
    for r, s in zip(res, single):
        np.testing.assert_allclose(r.keypoints, s.keypoints, atol=1e-4)


def test_stream_yields_one_result_per_frame_and_survives_bad_frames():
    p = Predictor(BlobNet(), input_size=128, flip=False)
    frames = [blob_image(96, 128, [(40.0 + 10 * i, 50.0)]) for i in range(5)]
    frames[2] = np.zeros((96, 128), np.uint8)  # grayscale: reported, skipped
    frames[3] = np.zeros((96, 128, 3), np.uint8)  # empty frame: a result with no people
    out = list(p.stream(iter(frames), batch_size=2))
    assert [r.source for r in out] == [0, 1, 2, 3, 4]
    assert out[2].error and "grayscale" in out[2].error and out[2].num_people == 0
    assert out[3].error is None and out[3].num_people == 0
    assert out[0].num_people == out[1].num_people == out[4].num_people == 1
    assert out[4].keypoints[0, 0, 0] > out[0].keypoints[0, 0, 0] + 30


def test_stream_reads_a_video_file(tmp_path):
    path = str(tmp_path / "clip.avi")
    wr = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (128, 96))
    assert wr.isOpened()
    for i in range(4):
        wr.write(blob_image(96, 128, [(30.0 + 15 * i, 48.0)], sigma=6.0))
    wr.release()
    p = Predictor(BlobNet(), input_size=128, flip=False)
    out = list(p.stream(path))
    assert [r.source for r in out] == [0, 1, 2, 3]
    xs = [r.keypoints[0, 0, 0] for r in out]
    assert all(b > a for a, b in zip(xs, xs[1:]))
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.avi"):
        list(p.stream(str(empty)))


# ---- Open Model Zoo layout ------------------------------------------------------------------------------


class OmzNet(torch.nn.Module):
    """What an OMZ HigherHRNet export computes, on BlobNet's maps: relu, 5x5 NMS with non-peaks negated,
    tags as ``embeddings``; everything at 1/2 input resolution."""

    def forward(self, x):
        s0, s1 = BlobNet()(x)
        heat = F.relu((F.interpolate(s0[:, :K], size=s1.shape[2:], mode="bilinear", align_corners=False) + s1) / 2)
        peak = (F.max_pool2d(heat, 5, 1, 2) == heat).float()
        return heat * (peak * 2 - 1), torch.zeros_like(heat)


def test_omz_layout_is_recognised_and_decoded_with_the_omz_preset(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="pip install 'hrdecode[onnx]'")
    path = str(tmp_path / "omz.onnx")
    torch.onnx.export(OmzNet(), (torch.zeros(1, 3, 128, 128),), path, input_names=["image"],
                      output_names=["heatmaps", "embeddings"], dynamo=False,
                      dynamic_axes={"image": {0: "N", 2: "H", 3: "W"}})
    assert [o.name for o in ort.InferenceSession(path).get_outputs()] == ["heatmaps", "embeddings"]
    p = Predictor(path, input_size=128)
    assert p.layout == "omz" and p.preset == "omz" and p.flip is False
    h, w = 150, 200
    cx, cy = 120.0, 60.0
    res = p(blob_image(h, w, [(cx, cy)]))
    assert res.num_people == 1
    # Decoding at 1/2 input resolution, the error bound is one map pixel (2 input pixels) in image units.
    k = min(h, w) / 128
    assert np.abs(res.keypoints[0, :, :2] - [cx, cy]).max() <= 2.0 * k
    with pytest.raises(ValueError, match="one scale"):
        Predictor(path, scales=(1.0, 0.5))


# ---- bad input ------------------------------------------------------------------------------------------


def test_bad_images_and_models_are_named(tmp_path):
    p = Predictor(BlobNet(), input_size=128)
    with pytest.raises(ValueError, match="grayscale"):
        p(np.zeros((50, 60), np.uint8))
    with pytest.raises(ValueError, match="4 channels"):
        p(np.zeros((50, 60, 4), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        p(np.zeros((50, 60, 3), np.float32))
    with pytest.raises(TypeError, match="image"):
        p(3)
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        p(str(tmp_path / "missing.jpg"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        p(str(broken))
    with pytest.raises(FileNotFoundError, match="model"):
        Predictor(str(tmp_path / "nope.onnx"))
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"junk")
    pytest.importorskip("onnxruntime")
    with pytest.raises(ValueError, match="junk.onnx"):
        Predictor(str(junk))
    with pytest.raises(ValueError, match="arch"):
        Predictor(BlobNet(), arch="resnet")
    with pytest.raises(ValueError, match="device"):
        Predictor(BlobNet(), device="tpu")
    with pytest.raises(TypeError, match="model"):
        Predictor(42)


def test_wrong_model_outputs_are_reported(tmp_path):
    class OneOutput(torch.nn.Module):
        def forward(self, x):
            return [x[:, :1]]

    with pytest.raises(ValueError, match="model: expected"):
        Predictor(OneOutput(), input_size=128)(blob_image(64, 64, [(30.0, 30.0)]))

    class WrongShapes(torch.nn.Module):
        def forward(self, x):
            return [x[:, :1], x[:, :1]]

    with pytest.raises(ValueError, match="model: expected outputs"):
        Predictor(WrongShapes(), input_size=128)(blob_image(64, 64, [(30.0, 30.0)]))
    pytest.importorskip("onnxruntime")
    path = str(tmp_path / "other.onnx")
    torch.onnx.export(BlobNet(), (torch.zeros(1, 3, 64, 64),), path, input_names=["image"],
                      output_names=["a", "b"], dynamo=False)
    with pytest.raises(ValueError, match=r"other.onnx.*outputs \['a', 'b'\]"):
        Predictor(path)


# ---- the reference's aggregation, step by step ----------------------------------------------------------


class TinyHH(torch.nn.Module):
    """A small random network with HigherHRNet's two outputs: (N, 2K, H/4, W/4) and (N, K, H/2, W/2)."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.c1 = torch.nn.Conv2d(3, 8, 3, 2, 1)
        self.c2 = torch.nn.Conv2d(8, 2 * K, 3, 2, 1)
        self.up = torch.nn.ConvTranspose2d(2 * K, K, 4, 2, 1)

    def forward(self, x):
        s0 = self.c2(torch.relu(self.c1(x)))
        return [s0, self.up(s0)]


def reference_maps(model, image, input_size, scales, flip, interpolate=None):
    """HigherHRNet's test path (valid.py, get_multi_stage_outputs, aggregate_results), one image at a time
    in torch, written from the spec: the oracle for Predictor.maps.

    ``interpolate(x, size)`` and ``project_tags(list of maps, size)`` (resize each, stack on a new last dim):
    the bilinear resize (default: the predictor's own primitives, which test_bilinear_resize_matches_torch
    compares with torch's F.interpolate, so that this oracle checks the order and logic of the aggregation
    bit for bit)."""
    from hrdecode.predictor import _TorchOps

    ops = _TorchOps()
    if interpolate is None:
        def interpolate(x, size):
            return ops.resize(x, size[0], size[1])

    def project_tags(xs, size):
        return ops.resize_stack(xs, size[0], size[1])
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    h, w = image.shape[:2]
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    base, _, _ = multi_scale_size(h, w, input_size, 1.0, min(scales))
    final, tags_list = None, []
    for s in sorted(scales, reverse=True):
        size, c, sc = multi_scale_size(h, w, input_size, s, min(scales))
        warped = cv2.warpAffine(rgb, affine_transform(c, sc, size), size)
        x = ((torch.from_numpy(warped).permute(2, 0, 1).float().div(255) - mean) / std)[None]
        heats, tags = [], []
        # The reference runs the flipped image as a second batch of 1; convolution kernels may round a batch
        # of 2 differently, so this oracle runs both in one batch as the predictor does (the aggregation is
        # what is under test; test_onnxruntime_and_torch_agree covers the network).
        both = model(torch.cat([x, torch.flip(x, [3])]) if flip else x)
        for flipped in ((False, True) if flip else (False,)):
            outs = [o[1:] if flipped else o[:1] for o in both]
            avg = 0
            for i, o in enumerate(outs):
                if i != len(outs) - 1:
                    o = interpolate(o, tuple(outs[-1].shape[2:]))
                if flipped:
                    o = torch.flip(o, [3])
                hm = o[:, :K][:, list(COCO_FLIP_INDEX)] if flipped else o[:, :K]
                avg = avg + hm
                if i == 0:
                    tags.append(o[:, K:][:, list(COCO_FLIP_INDEX)] if flipped else o[:, K:])
            heats.append(avg / len(outs))
        heats = [interpolate(a, (base[1], base[0])) for a in heats]
        hm = (heats[0] + heats[1]) / 2.0 if flip else heats[0]
        final = hm if final is None else final + hm
        if s == 1 or len(scales) == 1:
            tags_list.append(project_tags(tags, (base[1], base[0])))  # [1, K, H, W, L]
    final = final / float(len(scales))
    return final[0].numpy(), torch.cat(tags_list, dim=4)[0].numpy()


@pytest.mark.parametrize("h,w,flip,scales", [(150, 200, True, (1.0,)), (211, 97, True, (1.0,)),
                                             (120, 170, False, (1.0,)), (150, 200, True, (1.0, 0.5)),
                                             (140, 90, True, (2.0, 1.0, 0.5))])
def test_maps_match_the_reference_aggregation(h, w, flip, scales):
    net = TinyHH().eval()
    img = (np.random.default_rng(h + w).random((h, w, 3)) * 255).astype(np.uint8)
    p = Predictor(net, flip=flip, scales=scales, input_size=64)
    heat, tags, _ = p.maps(img)
    with torch.no_grad():
        ref_heat, ref_tags = reference_maps(net, img, 64, scales, flip)
    assert heat.shape == ref_heat.shape and tags.shape == ref_tags.shape
    assert tags.shape[-1] == (2 if flip else 1)
    # Same operations in the same order: bit-identical maps, hence identical people.
    np.testing.assert_array_equal(heat, ref_heat)
    np.testing.assert_array_equal(tags, ref_tags)
    dec = hrdecode.Decoder("higherhrnet")
    a, b = dec(heat, tags), dec(ref_heat, ref_tags)
    assert a.num_people == b.num_people > 0
    np.testing.assert_array_equal(a.keypoints, b.keypoints)
    np.testing.assert_array_equal(a.scores, b.scores)


@pytest.mark.parametrize("h,w,H,W", [(32, 48, 64, 96), (16, 24, 64, 96), (5, 7, 20, 28), (64, 96, 128, 192),
                                     (37, 53, 64, 100), (64, 96, 48, 72)])
def test_bilinear_resize_matches_torch(h, w, H, W):
    from hrdecode.predictor import _bilinear_host, _TorchOps

    x = np.random.default_rng(h * w).standard_normal((2, 3, h, w)).astype(np.float32)
    ref = F.interpolate(torch.from_numpy(x), size=(H, W), mode="bilinear", align_corners=False).numpy()
    got = _TorchOps().resize(torch.from_numpy(x), H, W).numpy()
    host = _bilinear_host(x, H, W)
    # Resize-and-stack (the tag layout) equals resizing each map and stacking, to the same precision.
    stacked = _TorchOps().resize_stack([torch.from_numpy(x), torch.from_numpy(-x)], H, W).numpy()
    assert stacked.shape == (2, 3, H, W, 2)
    ulps = 8 * np.spacing(np.float32(np.abs(ref).max()))
    np.testing.assert_allclose(stacked, np.stack([ref, -ref], -1), rtol=0, atol=ulps if H % h == 0 and W % w == 0
                               else 0)
    if H % h == 0 and W % w == 0:
        # Integer factors take OpenCV's path: a few ulp from torch.
        np.testing.assert_allclose(got, ref, rtol=0, atol=ulps)
    else:
        np.testing.assert_array_equal(got, ref)  # torch itself
        np.testing.assert_allclose(host, ref, rtol=0, atol=1e-4)  # OpenCV's weights differ by ~1e-5


def test_numpy_opencv_aggregation_matches_torch():
    # Installs without torch (ONNX Runtime only) aggregate with NumPy and OpenCV.
    from hrdecode.predictor import _NumpyOps

    net = TinyHH().eval()
    img = (np.random.default_rng(3).random((150, 200, 3)) * 255).astype(np.uint8)
    p = Predictor(net, flip=True, scales=(1.0, 0.5), input_size=64)
    heat, tags, _ = p.maps(img)
    p._ops = _NumpyOps()
    heat_np, tags_np, _ = p.maps(img)
    assert heat_np.dtype == np.float32 and heat_np.shape == heat.shape and tags_np.shape == tags.shape
    np.testing.assert_allclose(heat_np, heat, rtol=1e-5, atol=1e-6 * float(np.abs(heat).max()))
    np.testing.assert_allclose(tags_np, tags, rtol=1e-5, atol=1e-6 * float(np.abs(tags).max()))


def test_pth_checkpoint_runs_in_torch(tmp_path):
    net = random_w32(seed=4)
    torch.save(net.state_dict(), tmp_path / "w32.pth")
    img = (np.random.default_rng(9).random((100, 140, 3)) * 255).astype(np.uint8)
    from_file = Predictor(str(tmp_path / "w32.pth"), arch="higherhrnet_w32", input_size=64, device="cpu")
    from_module = Predictor(net, input_size=64, device="cpu")
    assert from_file.layout == "hh" and from_file.input_size == 64
    a, b = from_file.maps(img), from_module.maps(img)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="higherhrnet_w48"):
        Predictor(str(tmp_path / "w32.pth"), arch="higherhrnet_w48")


def test_mmpose_preset_and_bad_presets():
    img = blob_image(120, 160, [(100.0, 40.0)])
    res = Predictor(BlobNet(), preset="mmpose", input_size=128)(img)
    assert res.num_people == 1
    assert np.abs(res.keypoints[0, :, :2] - [100.0, 40.0]).max() < 2.0
    with pytest.raises(ValueError, match="preset"):
        Predictor(BlobNet(), preset="omz")
    # accurate: pixel-index coordinates through the same affine, DARK on the blob's (Gaussian) peak
    hh = Predictor(BlobNet(), input_size=128, flip=False)(img)
    acc = Predictor(BlobNet(), preset="accurate", input_size=128, flip=False)(img)
    assert acc.num_people == 1 and hh.num_people >= 1
    err_acc = np.abs(acc.keypoints[0, :, :2] - [100.0, 40.0]).max()
    err_hh = np.abs(hh.keypoints[0, :, :2] - [100.0, 40.0]).max()
    assert err_acc < 0.05 and err_hh > 0.2, (err_acc, err_hh)  # measured: 0.002 px and 0.55 px
    with pytest.raises(ValueError, match="flip_index"):
        Predictor(BlobNet(), input_size=128, flip_index=[0, 1])(img)


@pytest.mark.parametrize("h,w,target", [(480, 640, 512), (640, 480, 512), (300, 500, 512), (333, 517, 256),
                                        (720, 1280, 512), (101, 99, 128)])
def test_omz_geometry_equals_model_api(h, w, target):
    """The OMZ wrapper's own preprocess/postprocess (model_api, padding_mode="center" as the OMZ demo runs
    HigherHRNet), called on a stand-in object: same network input bit for bit, same image coordinates."""
    cv2 = pytest.importorskip("cv2")
    try:
        from model_api.models.hpe_associative_embedding import HpeAssociativeEmbedding
    except Exception as e:  # noqa: BLE001 - the oracle is optional
        pytest.skip(f"openvino-model-api not importable: {e}")
    import types

    from hrdecode.predictor import omz_input_size, omz_map_to_image, omz_preprocess

    H, W = omz_input_size(h, w, target)
    img = (np.random.default_rng(h * w).random((h, w, 3)) * 255).astype(np.uint8)
    fake = types.SimpleNamespace(h=H, w=W, size_divisor=32, padding_mode="center", image_blob_name="image",
                                 logger=types.SimpleNamespace(warning=lambda *a: None))
    inputs, meta = HpeAssociativeEmbedding.preprocess(fake, img)
    ours = omz_preprocess(img, H, W, cv2)
    np.testing.assert_array_equal(ours.transpose(2, 0, 1)[None], next(iter(inputs.values())))
    # postprocess: map coordinates at 1/2 input resolution back to the image
    mh, mw = H // 2, W // 2
    pts = np.array([[[0, 0, 1], [mw - 1, mh - 1, 1], [mw / 3, mh / 5, 1]]], np.float32)
    fake.decoder = lambda *a, **k: (pts.copy(), np.ones(1, np.float32))
    fake.heatmaps_blob_name = fake.nms_heatmaps_blob_name = fake.embeddings_blob_name = "x"
    fake.output_scale = W / mw
    fake.index_of_max_dimension = 1 if w / h >= 1.0 else 0
    theirs, _ = HpeAssociativeEmbedding.postprocess(fake, {"x": None}, meta)
    m = omz_map_to_image(h, w, H, W, mh, mw)
    mine = pts[0, :, :2].astype(np.float64) @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(mine, theirs[0, :, :2], rtol=1e-6, atol=1e-3)
