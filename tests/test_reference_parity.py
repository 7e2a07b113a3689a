"""hrdecode presets against the real reference decoders, where they install (see .ci/install_oracles.sh).

- "mmpose": mmpose 1.3.2 ``AssociativeEmbedding.batch_decode`` (torch + munkres 1.1.4).
- "omz": model_api 0.2.5.4 ``AssociativeEmbeddingDecoder`` (numpy + scipy), fed OMZ-style signed maps.
- "higherhrnet": HigherHRNet's group.py is not on PyPI; its oracle is the NumPy reference with the real
  munkres 1.1.4 (test_decoder.py). Here we check that mmpose's codec, which shares HigherHRNet's grouping,
  groups identically where the two references agree by construction.

The references' top-k tie order is unspecified (torch.topk, numpy argsort); scenes with exact ties among the
candidates are skipped, as their reference output is not well defined.
"""
from __future__ import annotations

import numpy as np
import pytest

import hrdecode
from hrdecode import synthetic

from oracles import mmpose_available, mmpose_decode, omz_available, omz_decode, omz_signed_heatmaps, topk_has_ties

pytestmark = pytest.mark.oracle

SCENES = [dict(height=h, width=w, num_people=n, seed=seed, tag_dim=L, spurious_peaks=sp)
          for seed, (h, w, n, L, sp) in enumerate([
              (128, 128, 5, 1, 10), (128, 128, 12, 1, 20), (96, 160, 8, 1, 20), (160, 96, 15, 1, 30),
              (128, 128, 25, 1, 30), (128, 128, 10, 2, 20), (64, 64, 3, 1, 5), (128, 128, 18, 2, 40),
              (192, 192, 30, 1, 40), (128, 128, 0, 1, 20),
          ])]


def _scenes(signed: bool = False):
    out = []
    for cfg in SCENES:
        s = synthetic.make_scene(**cfg)
        if topk_has_ties(s.heatmaps):
            continue
        out.append(s)
    assert len(out) >= len(SCENES) - 2
    return out


@pytest.fixture(scope="module")
def mmpose_ok():
    ok, why = mmpose_available()
    if not ok:
        pytest.skip(f"mmpose codec not importable: {why}")


@pytest.fixture(scope="module")
def omz_ok():
    ok, why = omz_available()
    if not ok:
        pytest.skip(f"OMZ decoder not importable: {why}")


def test_mmpose_preset_equals_mmpose_codec(mmpose_ok, backend):
    dec = hrdecode.Decoder("mmpose", backend=backend)
    total = 0
    for s in _scenes():
        (kp, ks, inst), = mmpose_decode(s.heatmaps[None], s.tags[None])
        r = dec(s.heatmaps, s.tags)
        assert r.keypoints.shape[0] == kp.shape[0]
        np.testing.assert_array_equal(r.keypoints[..., :2], kp)
        np.testing.assert_array_equal(r.keypoints[..., 2], ks)
        np.testing.assert_allclose(r.scores, inst, rtol=0, atol=1e-7)
        total += kp.shape[0]
    assert total > 50


def test_mmpose_preset_batch_and_overrides(mmpose_ok, backend):
    scenes = [s for s in _scenes() if s.heatmaps.shape == (17, 128, 128) and s.tags.shape[-1] == 1][:4]
    assert len(scenes) >= 3
    heat = np.stack([s.heatmaps for s in scenes])
    tags = np.stack([s.tags for s in scenes])
    for kwargs, ours in [
        (dict(max_instances=5, topk=5), dict(max_people=5)),
        (dict(nms_kernel=3, keypoint_thr=0.2, tag_thr=0.8, center_shift=0.0),
         dict(nms_kernel=3, detection_threshold=0.2, tag_threshold=0.8, delta=0.0)),
    ]:
        ref = mmpose_decode(heat, tags, **kwargs)
        got = hrdecode.Decoder("mmpose", backend=backend, **ours)(heat, tags)
        for (kp, ks, inst), r in zip(ref, got):
            np.testing.assert_array_equal(r.keypoints[..., :2], kp)
            np.testing.assert_array_equal(r.keypoints[..., 2], ks)


def _assert_udp_matches_codec(dec: hrdecode.Decoder, s: synthetic.Scene, kp: np.ndarray, ks: np.ndarray,
                              inst: np.ndarray) -> None:
    """hrdecode's use_udp == the codec's, up to the codec's float32 log (NumPy's SIMD log, a few ulp from the
    correctly rounded one and CPU-dependent): same people and instance scores, detected joints' values exact,
    filled joints at the same pixels, coordinates within 1e-4 px, log scores of filled joints within 1e-5."""
    r = dec(s.heatmaps, s.tags)
    detected = hrdecode.Decoder(dec.preset, backend=dec.backend, **{**dec.overrides, "refine": False})(
        s.heatmaps, s.tags).keypoints[..., 2] > 0
    assert r.keypoints.shape[0] == kp.shape[0] == detected.shape[0]
    np.testing.assert_array_equal(r.scores, inst)
    np.testing.assert_allclose(r.keypoints[..., :2], kp, rtol=0, atol=1e-4)
    np.testing.assert_allclose(r.keypoints[..., 2], ks, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(r.keypoints[..., 2][detected], ks[detected])
    np.testing.assert_array_equal(r.keypoints[..., :2][~detected], kp[~detected])  # integer pixels
    return r


def test_mmpose_use_udp_equals_mmpose_codec(mmpose_ok, backend):
    """mmpose's use_udp=True: DARK-UDP at detected joints, missing joints filled from the codec's in-place
    log maps (their scores are log values)."""
    dec = hrdecode.Decoder("mmpose", backend=backend, use_udp=True)
    total = exact = 0
    for s in _scenes():
        (kp, ks, inst), = mmpose_decode(s.heatmaps[None], s.tags[None], use_udp=True)
        r = _assert_udp_matches_codec(dec, s, kp, ks, inst)
        total += kp.shape[0]
        exact += int(np.sum(r.keypoints[..., :2] == kp))
    assert total > 50
    assert exact > 0.8 * 2 * 17 * total  # most coordinates are bit-identical


def test_mmpose_use_udp_kernel_and_overrides(mmpose_ok, backend):
    """A 5x5 blur (OpenCV adds its taps in another order there: still within the tolerance), no centre
    shift, fewer people."""
    scenes = [s for s in _scenes() if s.heatmaps.shape == (17, 128, 128)][:3]
    for kw, ours in [(dict(gaussian_kernel=5), dict(blur_kernel=5)),
                     (dict(center_shift=0.0, max_instances=6, topk=6), dict(delta=0.0, max_people=6))]:
        dec = hrdecode.Decoder("mmpose", backend=backend, use_udp=True, **ours)
        for s in scenes:
            (kp, ks, inst), = mmpose_decode(s.heatmaps[None], s.tags[None], use_udp=True, **kw)
            _assert_udp_matches_codec(dec, s, kp, ks, inst)


def test_omz_preset_equals_omz_decoder(omz_ok, backend):
    dec = hrdecode.Decoder("omz", backend=backend)
    total = 0
    for s in _scenes():
        signed = omz_signed_heatmaps(s.heatmaps)
        tags = s.tags[..., :1]  # the OMZ decoder's refine handles one tag value per joint
        poses, scores = omz_decode(signed[None], tags[None])
        r = dec(signed, tags)
        assert r.keypoints.shape[0] == poses.shape[0]
        np.testing.assert_array_equal(r.keypoints, poses[..., :3])
        np.testing.assert_allclose(r.scores, scores, rtol=0, atol=1e-7)
        total += poses.shape[0]
    assert total > 30


@pytest.mark.parametrize("ours,theirs", [
    (dict(delta=0.0), dict(delta=0.0)),
    (dict(pose_threshold=0.0), dict(pose_threshold=0.0)),
    (dict(dist_reweight=False), dict(dist_reweight=False)),
    (dict(refine=False, adjust=False), dict(refine=False, adjust=False)),
])
def test_omz_preset_overrides(omz_ok, ours, theirs, backend):
    dec = hrdecode.Decoder("omz", backend=backend, **ours)
    for s in _scenes()[:5]:
        signed = omz_signed_heatmaps(s.heatmaps)
        tags = s.tags[..., :1]
        poses, scores = omz_decode(signed[None], tags[None], **theirs)
        r = dec(signed, tags)
        np.testing.assert_array_equal(r.keypoints, poses[..., :3])
