"""Tests of the synthetic scene generator (hrdecode.synthetic)."""

from __future__ import annotations

import copy
import dataclasses
import time

import numpy as np
import pytest

from hrdecode import synthetic

SceneConfig = synthetic.SceneConfig
make_scene = synthetic.make_scene


def _clean(**kw: object) -> synthetic.Scene:
    """A scene without noise or spurious peaks."""
    base: dict[str, object] = {"noise": 0.0, "spurious_peaks": 0}
    base.update(kw)
    return make_scene(**base)


def _scene_arrays(scene: synthetic.Scene) -> list[np.ndarray]:
    assert scene.amplitudes is not None
    return [scene.heatmaps, scene.tags, scene.joints, scene.person_tags, scene.amplitudes]


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    "kw",
    [
        {},
        dict(height=64, width=96, num_people=3, num_joints=5, tag_dim=2),
        dict(height=40, width=33, num_people=2, num_joints=1, tag_dim=3),
        dict(num_people=0, tag_dim=2),
    ],
)
def test_shapes_and_dtypes(kw: dict) -> None:
    cfg = SceneConfig(**kw)
    s = make_scene(cfg)
    K, H, W, L, P = cfg.num_joints, cfg.height, cfg.width, cfg.tag_dim, cfg.num_people
    assert s.config == cfg
    assert s.heatmaps.shape == (K, H, W) and s.heatmaps.dtype == np.float32
    assert s.tags.shape == (K, H, W, L) and s.tags.dtype == np.float32
    assert s.joints.shape == (P, K, 3) and s.joints.dtype == np.float32
    assert s.person_tags.shape == (P, L) and s.person_tags.dtype == np.float32
    assert s.amplitudes is not None and s.amplitudes.shape == (P, K)
    assert s.heatmaps.flags.c_contiguous and s.tags.flags.c_contiguous
    assert set(np.unique(s.joints[..., 2]).tolist()) <= {0.0, 1.0}
    assert np.isfinite(s.heatmaps).all() and np.isfinite(s.tags).all()
    assert s.num_people == P


def test_default_config_matches_spec() -> None:
    cfg = SceneConfig()
    assert (cfg.height, cfg.width, cfg.num_people, cfg.num_joints, cfg.tag_dim) == (256, 256, 10, 17, 1)
    assert cfg.sigma == 2.0 and cfg.spurious_peaks == 20 and cfg.tag_spacing == 2.0
    assert cfg.plateaus == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.height = 3  # type: ignore[misc]


def test_constants() -> None:
    assert len(synthetic.COCO_KEYPOINT_NAMES) == 17
    assert synthetic.COCO_KEYPOINT_NAMES[0] == "nose" and synthetic.COCO_KEYPOINT_NAMES[16] == "right_ankle"
    assert len(synthetic.COCO_SIGMAS) == 17
    assert synthetic.COCO_SIGMAS[0] == pytest.approx(0.026) and synthetic.COCO_SIGMAS[11] == pytest.approx(0.107)
    assert len(synthetic.COCO_SKELETON) == 19
    assert all(1 <= a <= 17 and 1 <= b <= 17 for a, b in synthetic.COCO_SKELETON)
    assert (16, 14) in synthetic.COCO_SKELETON


# ------------------------------------------------------------------------ determinism


def test_same_seed_is_identical() -> None:
    a = make_scene(seed=7, tag_dim=2, plateaus=3)
    b = make_scene(SceneConfig(seed=7, tag_dim=2, plateaus=3))
    for x, y in zip(_scene_arrays(a), _scene_arrays(b)):
        np.testing.assert_array_equal(x, y)


def test_different_seed_differs() -> None:
    a, b = make_scene(seed=1), make_scene(seed=2)
    assert not np.array_equal(a.heatmaps, b.heatmaps)
    assert not np.array_equal(a.tags, b.tags)
    assert not np.array_equal(a.joints, b.joints)


def test_global_random_state_untouched() -> None:
    np.random.seed(123)
    before = np.random.random(4)
    np.random.seed(123)
    a = make_scene(seed=3)
    np.testing.assert_array_equal(np.random.random(4), before)  # legacy global stream untouched
    np.random.seed(999)  # must not influence the scene
    np.testing.assert_array_equal(make_scene(seed=3).heatmaps, a.heatmaps)


def test_overrides_apply_on_top_of_config() -> None:
    cfg = SceneConfig(height=64, width=64, num_people=2, seed=4)
    s = make_scene(cfg, seed=5)
    assert s.config == dataclasses.replace(cfg, seed=5)
    assert cfg.seed == 4
    np.testing.assert_array_equal(s.heatmaps, make_scene(height=64, width=64, num_people=2, seed=5).heatmaps)


# -------------------------------------------------------------------- people & peaks


def test_no_people_gives_only_spurious_and_noise() -> None:
    s = make_scene(num_people=0, seed=3)
    assert s.joints.shape == (0, 17, 3) and s.person_tags.shape == (0, 1)
    # spurious blobs are <= 0.6, noise std 0.02
    assert 0.1 < s.heatmaps.max() < 0.6 + 0.15
    silent = _clean(num_people=0)
    assert not silent.heatmaps.any()
    assert synthetic.to_coco([s])["annotations"] == []


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("sigma", [2.0, 1.3])
def test_gt_peak_location_and_height(seed: int, sigma: float) -> None:
    s = _clean(num_people=1, seed=seed, sigma=sigma)
    assert s.amplitudes is not None
    vis = s.joints[0, :, 2] > 0
    assert vis.sum() >= 9
    for k in np.flatnonzero(vis):
        hm = s.heatmaps[k]
        y, x = np.unravel_index(int(np.argmax(hm)), hm.shape)
        gx, gy = (float(v) for v in s.joints[0, k, :2])
        assert abs(x - gx) <= 0.5 and abs(y - gy) <= 0.5, (k, (x, y), (gx, gy))
        assert (x, y) == (round(gx), round(gy))
        amp = float(s.amplitudes[0, k])
        assert synthetic.SceneConfig().amplitude[0] <= amp <= 1.0
        # the sampled maximum is at most 1/sqrt(2) px from the centre
        assert amp * np.exp(-0.25 / sigma**2) - 1e-6 <= hm[y, x] <= amp + 1e-6
    for k in np.flatnonzero(~vis):  # invisible: no peak at all in a one-person clean scene
        assert not s.heatmaps[k].any()
        assert s.amplitudes[0, k] == 0


def test_fixed_amplitude_is_peak_height() -> None:
    s = _clean(num_people=4, seed=5, amplitude=(0.8, 0.8))
    for p, k in zip(*np.nonzero(s.joints[..., 2])):
        gx, gy = s.joints[p, k, :2]
        assert s.heatmaps[k, round(float(gy)), round(float(gx))] == pytest.approx(0.8, abs=0.8 * 0.07)


def test_heatmap_is_max_of_truncated_gaussians() -> None:
    sigma = 2.0
    s = _clean(num_people=8, seed=11, sigma=sigma, height=96, width=128)
    assert s.amplitudes is not None
    yy, xx = np.mgrid[0:96, 0:128]
    ref = np.zeros_like(s.heatmaps)
    for p, k in zip(*np.nonzero(s.joints[..., 2])):
        gx, gy = s.joints[p, k, :2].astype(np.float64)
        g = s.amplitudes[p, k] * np.exp(-((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * sigma**2))
        ref[k] = np.maximum(ref[k], g)
    # exact near the peaks, only the truncated far tail (< exp(-4.5) * amp) differs elsewhere
    assert np.abs(s.heatmaps - ref).max() < 0.012
    near = ref > 0.1
    np.testing.assert_allclose(s.heatmaps[near], ref[near], rtol=1e-5, atol=1e-6)


def test_noise_is_signed_with_requested_std() -> None:
    clean = make_scene(seed=2, noise=0.0)
    noisy = make_scene(seed=2, noise=0.05)
    np.testing.assert_array_equal(clean.joints, noisy.joints)
    diff = (noisy.heatmaps - clean.heatmaps).astype(np.float64)
    assert abs(diff.mean()) < 2e-3
    assert diff.std() == pytest.approx(0.05, rel=0.03)
    assert (noisy.heatmaps < 0).mean() > 0.3  # networks output small negatives


def test_spurious_peaks_have_no_gt_and_bounded_height() -> None:
    s = _clean(num_people=0, spurious_peaks=30, seed=4)
    assert 0.1 <= s.heatmaps.max() <= 0.6
    assert s.heatmaps.min() >= 0
    n_channels_hit = int((s.heatmaps.reshape(17, -1).max(axis=1) > 0).sum())
    assert n_channels_hit >= 8  # 30 blobs spread over channels


def test_visibility_and_border() -> None:
    out_of_map = 0
    people = 0
    sides = np.zeros(4, dtype=int)
    for seed in range(10):
        s = make_scene(seed=seed, num_people=20)
        H, W = s.heatmaps.shape[1:]
        x, y, v = s.joints[..., 0], s.joints[..., 1], s.joints[..., 2]
        beyond = np.stack([x < 0, x > W - 1, y < 0, y > H - 1])
        outside = beyond.any(axis=0)
        sides += beyond.reshape(4, -1).sum(axis=1)
        assert not (outside & (v > 0)).any()  # out-of-map joints are never visible
        out_of_map += int(outside.any(axis=1).sum())
        people += s.joints.shape[0]
        # visible joints lie inside the map, so their rounded pixel is addressable
        vis = v > 0
        assert (np.round(x[vis]) >= 0).all() and (np.round(x[vis]) <= W - 1).all()
    assert 0 < out_of_map < 0.35 * people  # "a few" people straddle the border
    assert (sides > 0).all()  # ... on every side
    # visibility 0.9: most in-map joints are visible
    s = make_scene(seed=0, num_people=30)
    assert 0.8 < s.joints[..., 2].mean() < 0.97
    none = _clean(visibility=0.0, seed=1)
    assert not none.joints[..., 2].any() and not none.heatmaps.any()


@pytest.mark.parametrize("seed", range(3))
def test_people_are_separated_per_channel(seed: int) -> None:
    # Same-joint peaks of different people stay >= 4 sigma apart (distinguishable),
    # even in a crowded scene.
    sigma = 2.0
    s = make_scene(seed=seed, num_people=30, sigma=sigma)
    for k in range(17):
        pts = s.joints[s.joints[:, k, 2] > 0, k, :2]
        d = np.linalg.norm(pts[:, None] - pts[None], axis=2) + np.eye(len(pts)) * 1e9
        assert len(pts) < 2 or d.min() >= 4 * sigma


def test_template_generic_and_mirroring() -> None:
    xy, jit = synthetic.template(17)
    assert xy.shape == (17, 2) and jit.shape == (17,)
    assert xy[1, 0] > 0 > xy[2, 0]  # left eye on the image right in the template
    assert xy[15, 1] > xy[13, 1] > xy[11, 1] > xy[5, 1] > xy[0, 1]  # ankle below knee ...
    for K in (1, 2, 5, 30):
        xy, jit = synthetic.template(K)
        assert xy.shape == (K, 2)
    # both orientations appear: the person's left shoulder is on the image right or left
    signs = set()
    for seed in range(8):
        s = _clean(num_people=4, seed=seed, visibility=1.0)
        signs |= set(np.sign(s.joints[:, 5, 0] - s.joints[:, 6, 0]).tolist())
    assert signs == {-1.0, 1.0}


# ----------------------------------------------------------------------------- tags


@pytest.mark.parametrize("tag_dim", [1, 2, 3])
def test_tags_at_gt_pixels_match_person_tags(tag_dim: int) -> None:
    s = make_scene(seed=9, num_people=12, tag_dim=tag_dim)
    n = 0
    for p, k in zip(*np.nonzero(s.joints[..., 2])):
        gx, gy = s.joints[p, k, :2]
        t = s.tags[k, round(float(gy)), round(float(gx))]
        assert np.abs(t - s.person_tags[p]).max() < 0.6, (p, k, t, s.person_tags[p])
        n += 1
    assert n > 100


@pytest.mark.parametrize("tag_dim", [1, 2, 3])
def test_person_tags_are_separated(tag_dim: int) -> None:
    s = make_scene(seed=2, num_people=15, tag_dim=tag_dim, tag_spacing=2.0)
    pt = s.person_tags.astype(np.float64)
    d = np.linalg.norm(pt[:, None] - pt[None], axis=2) + np.eye(15) * 1e9
    assert d.min() >= 2.0 - 1e-5
    assert abs(pt[:, 0].mean()) < 0.5 * 2.0  # centred around 0
    d0 = np.abs(pt[:, None, 0] - pt[None, :, 0]) + np.eye(15) * 1e9
    assert d0.min() >= 2.0 - 1e-5  # each dimension alone separates people
    if tag_dim == 2:  # flip copy: second dim = first dim + small noise
        assert np.abs(pt[:, 1] - pt[:, 0]).max() < 0.5
        assert not np.array_equal(pt[:, 1], pt[:, 0])


def test_tag_discs_nearest_joint_wins() -> None:
    sigma = 2.0
    s = _clean(seed=3, num_people=10, tag_noise=0.0, sigma=sigma, height=128, width=128)
    yy, xx = np.mgrid[0:128, 0:128].astype(np.float64)
    owned = 0
    for k in range(17):
        people = np.flatnonzero(s.joints[:, k, 2] > 0)
        if not len(people):
            continue
        d2 = np.stack(
            [(xx - s.joints[p, k, 0]) ** 2 + (yy - s.joints[p, k, 1]) ** 2 for p in people]
        )
        nearest = people[np.argmin(d2, axis=0)]
        inside = d2.min(axis=0) <= (3 * sigma) ** 2 - 1e-3
        np.testing.assert_array_equal(s.tags[k][inside], s.person_tags[nearest[inside]])
        owned += int(inside.sum())
    assert owned > 1000


def test_tag_background_is_smooth_and_in_range() -> None:
    s = make_scene(seed=1, num_people=0, tag_spacing=2.0)
    t = s.tags[..., 0]
    assert -1.0 - 1e-5 <= t.min() and t.max() <= 1.0 + 1e-5
    assert t.std() > 0.2
    # smooth: neighbouring pixels differ far less than the value range
    assert np.abs(np.diff(t, axis=2)).max() < 0.2
    s = make_scene(seed=1, num_people=5, tag_dim=2)
    lo = s.person_tags.min(axis=0) - 1.0
    hi = s.person_tags.max(axis=0) + 1.0
    # background values cover the person tag range (distractors for the refinement search)
    for dim in range(2):
        vals = s.tags[..., dim]
        assert vals.min() >= lo[dim] - 1.0 and vals.max() <= hi[dim] + 1.0
        assert np.ptp(vals) > 0.7 * (hi[dim] - lo[dim])


# ------------------------------------------------------------------------- plateaus


def test_plateaus() -> None:
    s = make_scene(seed=4, plateaus=5)
    ties = 0
    for p, k in zip(*np.nonzero(s.joints[..., 2])):
        gx, gy = s.joints[p, k, :2]
        x, y = round(float(gx)), round(float(gy))
        win = s.heatmaps[k, max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2]
        if (win == s.heatmaps[k, y, x]).sum() >= 2:
            ties += 1
    assert ties >= 5
    plain = make_scene(seed=4)
    np.testing.assert_array_equal(plain.joints, s.joints)


# ---------------------------------------------------------------------------- batch


def test_make_batch_matches_scenes() -> None:
    cfg = SceneConfig(height=48, width=64, num_people=3, tag_dim=2, seed=10)
    heat, tags, scenes = synthetic.make_batch(3, cfg)
    assert heat.shape == (3, 17, 48, 64) and heat.dtype == np.float32
    assert tags.shape == (3, 17, 48, 64, 2) and tags.dtype == np.float32
    assert [sc.config.seed for sc in scenes] == [10, 11, 12]
    for i, sc in enumerate(scenes):
        ref = make_scene(cfg, seed=10 + i)
        np.testing.assert_array_equal(heat[i], ref.heatmaps)
        np.testing.assert_array_equal(tags[i], ref.tags)
        np.testing.assert_array_equal(sc.joints, ref.joints)
    heat[0] = -5  # the batch is a copy
    assert scenes[0].heatmaps.max() > 0
    h0, t0, s0 = synthetic.make_batch(0, height=8, width=8)
    assert h0.shape == (0, 17, 8, 8) and t0.shape == (0, 17, 8, 8, 1) and s0 == []
    h1, _, s1 = synthetic.make_batch(2, seed=0, height=32, width=32)
    np.testing.assert_array_equal(h1[1], make_scene(seed=1, height=32, width=32).heatmaps)


# ----------------------------------------------------------------------------- COCO


def _check_coco(gt: dict, scenes: list, offset: float) -> None:
    assert set(gt) >= {"images", "annotations", "categories"}
    assert len(gt["images"]) == len(scenes)
    assert len({im["id"] for im in gt["images"]}) == len(scenes)
    assert len(gt["annotations"]) == sum(sc.joints.shape[0] for sc in scenes)
    assert len({a["id"] for a in gt["annotations"]}) == len(gt["annotations"])
    (cat,) = gt["categories"]
    assert cat["id"] == 1 and cat["name"] == "person"
    by_image = {im["id"]: (im, sc) for im, sc in zip(gt["images"], scenes)}
    counters = {im["id"]: 0 for im in gt["images"]}
    for ann in gt["annotations"]:
        im, sc = by_image[ann["image_id"]]
        K = sc.joints.shape[1]
        assert im["width"] == sc.heatmaps.shape[2] and im["height"] == sc.heatmaps.shape[1]
        assert len(cat["keypoints"]) == K
        assert ann["category_id"] == 1 and ann["iscrowd"] == 0
        kp = np.asarray(ann["keypoints"], dtype=np.float64).reshape(K, 3)
        assert len(ann["keypoints"]) == 3 * K
        assert set(kp[:, 2].tolist()) <= {0.0, 2.0}
        person = sc.joints[counters[ann["image_id"]]].astype(np.float64)
        counters[ann["image_id"]] += 1
        vis = person[:, 2] > 0
        np.testing.assert_array_equal(kp[:, 2] == 2, vis)
        np.testing.assert_allclose(kp[vis, :2], person[vis, :2] + offset, atol=1e-6)
        assert (kp[~vis] == 0).all()
        assert ann["num_keypoints"] == int(vis.sum())
        x, y, w, h = ann["bbox"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        assert x + w <= im["width"] + 1e-9 and y + h <= im["height"] + 1e-9
        assert ann["area"] == pytest.approx(w * h)
        if vis.any():
            assert (kp[vis, 0] >= x).all() and (kp[vis, 0] <= x + w).all()
            assert (kp[vis, 1] >= y).all() and (kp[vis, 1] <= y + h).all()


@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_to_coco(offset: float) -> None:
    scenes = [make_scene(seed=s, num_people=n) for s, n in ((0, 5), (1, 0), (2, 9))]
    gt = synthetic.to_coco(scenes, coordinate_offset=offset)
    _check_coco(gt, scenes, offset)
    cat = gt["categories"][0]
    assert cat["keypoints"] == list(synthetic.COCO_KEYPOINT_NAMES)
    assert [tuple(e) for e in cat["skeleton"]] == list(synthetic.COCO_SKELETON)
    assert [im["id"] for im in gt["images"]] == [1, 2, 3]
    gt2 = copy.deepcopy(gt)
    assert gt2 == gt  # plain data, JSON-able
    import json

    json.dumps(gt)


def test_to_coco_generic_joints() -> None:
    scenes = [make_scene(seed=1, num_people=3, num_joints=5, height=64, width=64)]
    gt = synthetic.to_coco(scenes)
    _check_coco(gt, scenes, 0.0)
    assert gt["categories"][0]["keypoints"] == [f"joint_{k}" for k in range(5)]
    with pytest.raises(ValueError, match="num_joints"):
        synthetic.to_coco([scenes[0], make_scene(seed=1, height=64, width=64)])


def test_to_coco_self_evaluation_is_perfect() -> None:
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    scenes = [make_scene(seed=s, num_people=6) for s in range(3)]
    gt = synthetic.to_coco(scenes)
    coco = COCO()
    coco.dataset = copy.deepcopy(gt)
    coco.createIndex()
    dets = [
        {"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"], "score": 1.0}
        for a in gt["annotations"]
        if a["num_keypoints"] > 0
    ]
    ev = COCOeval(coco, coco.loadRes(dets), "keypoints")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


# ------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "field, value",
    [
        ("height", 0),
        ("height", -5),
        ("height", 2.5),
        ("width", 0),
        ("num_people", -1),
        ("num_joints", 0),
        ("tag_dim", 0),
        ("sigma", 0.0),
        ("sigma", -1.0),
        ("sigma", float("nan")),
        ("person_height", (0.5, 0.2)),
        ("person_height", (0.0, 0.2)),
        ("amplitude", (0.5,)),
        ("visibility", 1.5),
        ("spurious_peaks", -1),
        ("noise", -0.1),
        ("tag_spacing", 0.0),
        ("tag_noise", -1.0),
        ("seed", -1),
        ("plateaus", -2),
    ],
)
def test_bad_arguments_raise(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field) as info:
        SceneConfig(**{field: value})
    assert repr(value) in str(info.value) or str(value) in str(info.value)
    with pytest.raises(ValueError, match=field):
        make_scene(**{field: value})


def test_bad_batch_and_override() -> None:
    with pytest.raises(ValueError, match=r"\bn\b.*-1"):
        synthetic.make_batch(-1)
    with pytest.raises(TypeError, match="bogus"):
        make_scene(bogus=1)
    with pytest.raises(ValueError, match="positive"):
        SceneConfig(height=True)  # bools are not sizes


def test_edge_sizes() -> None:
    s = make_scene(height=1, width=1, num_people=2, num_joints=1)
    assert s.heatmaps.shape == (1, 1, 1)
    s = make_scene(height=5, width=200, num_people=3, sigma=0.5)
    assert s.heatmaps.shape == (17, 5, 200)


# --------------------------------------------------------------------------- timing


def test_render_time() -> None:
    make_scene(height=64, width=64)  # warm up (lazy tables)
    best = np.inf
    for seed in range(2):
        t0 = time.perf_counter()
        make_scene(height=512, width=512, num_people=30, seed=seed)
        best = min(best, time.perf_counter() - t0)
    assert best < 1.0, f"512x512x17 with 30 people took {best:.3f} s"
    best = np.inf
    for seed in range(3):
        t0 = time.perf_counter()
        make_scene(seed=seed)
        best = min(best, time.perf_counter() - t0)
    assert best < 0.25, f"default 256x256 scene took {best:.3f} s"
