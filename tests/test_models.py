"""HigherHRNet in PyTorch: official structure, names and parameter counts; checkpoint loading; ONNX export."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the models need torch (pip install 'hrdecode[torch]')")

from hrdecode import models  # noqa: E402

# Total parameters of the official structure (pose_higher_hrnet.py with the w32_512 / w48_640 configs).
# W32: 28,645,331 = the paper's "28.6M". Open Model Zoo lists 28.6180 M for its converted model, in which
# every BatchNorm is folded into the convolution before it: that removes 2C and adds C parameters per BN, and
# the 301 BNs of W32 have 27,456 channels, so 28,645,331 - 27,456 = 28,617,875 = 28.6179 M (the remaining
# 0.0001 M are the IR's own constants).
W32_PARAMS = 28_645_331
W32_BN_CHANNELS = 27_456
W48_PARAMS = 63_827_139


@pytest.fixture(scope="module")
def w32():
    torch.manual_seed(0)
    return models.build_model("higherhrnet_w32")


def test_w32_parameter_count_matches_official_structure(w32):
    n = sum(p.numel() for p in w32.parameters())
    assert n == W32_PARAMS
    bn = [m for m in w32.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bn) == 301 and sum(m.num_features for m in bn) == W32_BN_CHANNELS
    # The BN-folded count is Open Model Zoo's published 28.6180 M to 4 decimals (see the comment above).
    assert abs((n - W32_BN_CHANNELS) / 1e6 - 28.6180) < 0.00015


def test_w48_parameter_count():
    net = models.build_model("higherhrnet_w48")
    assert sum(p.numel() for p in net.parameters()) == W48_PARAMS  # the paper's 63.8M


def test_official_key_names(w32):
    sd = w32.state_dict()
    assert len(sd) == 1810
    official = {
        "conv1.weight": (64, 3, 3, 3),
        "bn2.running_var": (64,),
        "layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "layer1.3.conv3.weight": (256, 64, 1, 1),
        "transition1.0.0.weight": (32, 256, 3, 3),
        "transition1.1.0.0.weight": (64, 256, 3, 3),
        "transition2.2.0.0.weight": (128, 64, 3, 3),
        "transition3.3.0.0.weight": (256, 128, 3, 3),
        "stage2.0.branches.1.3.conv2.weight": (64, 64, 3, 3),
        "stage2.0.fuse_layers.0.1.0.weight": (32, 64, 1, 1),
        "stage2.0.fuse_layers.1.0.0.0.weight": (64, 32, 3, 3),
        "stage3.3.fuse_layers.2.0.1.0.weight": (128, 32, 3, 3),
        "stage4.2.fuse_layers.0.3.1.num_batches_tracked": (),
        "final_layers.0.weight": (34, 32, 1, 1),
        "final_layers.0.bias": (34,),
        "final_layers.1.weight": (17, 32, 1, 1),
        "deconv_layers.0.0.0.weight": (66, 32, 4, 4),
        "deconv_layers.0.0.1.running_mean": (32,),
        "deconv_layers.0.4.0.bn2.weight": (32,),
    }
    for k, shape in official.items():
        assert k in sd, k
        assert tuple(sd[k].shape) == shape, k
    # Stage 4's last module keeps only the highest resolution, as in the official config.
    assert "stage4.2.fuse_layers.1.0.0.0.weight" not in sd
    assert "stage4.1.fuse_layers.3.2.0.0.weight" in sd


def test_forward_gives_the_two_official_outputs(w32):
    with torch.no_grad():
        out = w32(torch.randn(2, 3, 128, 192))
    assert isinstance(out, list) and len(out) == 2
    assert tuple(out[0].shape) == (2, 34, 32, 48)
    assert tuple(out[1].shape) == (2, 17, 64, 96)
    assert all(torch.isfinite(o).all() for o in out)


def test_round_tripped_state_dict_loads_strict(w32, tmp_path):
    other = models.build_model("higherhrnet_w32")
    sd = {k: v.clone() for k, v in w32.state_dict().items()}
    torch.save(sd, tmp_path / "pose_higher_hrnet_w32_512.pth")
    models.load_checkpoint(other, tmp_path / "pose_higher_hrnet_w32_512.pth")
    for k, v in other.state_dict().items():
        assert torch.equal(v, sd[k]), k
    # DataParallel's "module." prefix and a {"state_dict": ...} wrapper are accepted.
    wrapped = {"state_dict": {"module." + k: v for k, v in sd.items()}}
    net = models.build_model("higherhrnet_w32", checkpoint=wrapped)
    assert torch.equal(net.state_dict()["final_layers.1.bias"], sd["final_layers.1.bias"])
    net.load_state_dict(sd, strict=True)


def test_checkpoint_errors_name_the_keys(w32, tmp_path):
    sd = dict(w32.state_dict())
    del sd["final_layers.1.bias"]
    sd["head.extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing key\(s\): final_layers\.1\.bias.*unexpected key\(s\): head\.extra"):
        models.load_checkpoint(models.build_model("higherhrnet_w32"), sd)
    w48 = models.build_model("higherhrnet_w48")
    with pytest.raises(ValueError, match=r"does not fit higherhrnet_w48.*shape mismatch"):
        models.load_checkpoint(w48, dict(w32.state_dict()))
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        models.build_model("higherhrnet_w32", checkpoint=tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pth"):
        models.build_model("higherhrnet_w32", checkpoint=bad)
    with pytest.raises(ValueError, match="arch"):
        models.build_model("higherhrnet_w64")
    with pytest.raises(TypeError, match="checkpoint"):
        models.build_model("higherhrnet_w32", checkpoint=3)


def test_export_onnx_dynamic_and_matches_torch(tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="pip install 'hrdecode[onnx]'")
    pytest.importorskip("onnx", reason="pip install 'hrdecode[onnx]'")
    from hrdecode.export import OUTPUT_NAMES, export_onnx

    torch.manual_seed(1)
    net = models.build_model("higherhrnet_w32")
    path = export_onnx(net, tmp_path / "m.onnx", sample_size=(128, 128))
    assert not (tmp_path / "m.onnx.partial").exists()
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == list(OUTPUT_NAMES)
    x = np.random.default_rng(0).standard_normal((2, 3, 192, 128)).astype(np.float32)  # not the traced size
    got = sess.run(None, {"image": x})
    with torch.no_grad():
        ref = [o.numpy() for o in net(torch.from_numpy(x))]
    for g, r in zip(got, ref):
        assert g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=1e-3, atol=1e-5 * float(np.abs(r).max()))
    with pytest.raises(FileNotFoundError, match="out"):
        export_onnx(net, tmp_path / "no" / "m.onnx")
