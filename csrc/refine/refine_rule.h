// The sub-pixel shift ("adjust") and the missing-joint search ("refine") rules of the three reference
// decoders. Written once; the CPU scan and the CUDA kernels call these.
//
// Refine, common form: for a person with tag p (L) and a missing joint k, every pixel gets
//     score = heat - penalty(tag_k(pixel), p)
// and the pixel with the greatest score wins, ties to the smallest flat index (numpy's argmax/argmin take
// the first). The references phrase it three ways; all are this maximisation, evaluated in float32 exactly
// as NumPy does:
//   HigherHRNet: argmax(heat - round(||t - p||)),           norm summed over L in pairwise order
//   mmpose:      argmin(round(||t - p||) * 100 - heat),     norm summed over L sequentially (axis 0)
//                (argmin of c == argmax of -c, and fl(a - b) == -fl(b - a), so ties are preserved)
//   OMZ:         argmin(int32(|t0 - p0| + 0.5) - |heat|),   first tag dim only, round half up
// Each penalty is a non-decreasing function of every |t_l - p_l| (float subtraction, squaring, addition,
// sqrt and rounding are all monotone), so evaluating it at the point of a box of tags nearest to p gives a
// lower bound valid for every tag in the box. refine_cpu.cpp uses that to skip whole tiles exactly.
#pragma once
#include <cmath>
#include <cstdint>

#include "common/host_device.h"
#include "common/numeric.h"
#include "common/types.h"
#include "dark/dark_rule.h"

namespace hrd {

// ---- adjust: the quarter-pixel shift of a detected joint --------------------------------------------

// HigherHRNet: towards the greater neighbour, neighbours clamped at the border; a tie (also at the border,
// where both neighbours are the same pixel) gives -0.25. NaN compares false and so also gives -0.25.
HRD_INLINE float shift_hh(float lower, float upper) { return upper > lower ? 0.25f : -0.25f; }

// mmpose and OMZ: np.sign(diff) * 0.25: no shift on a tie. (np.sign(NaN) would be NaN; we give 0.)
HRD_INLINE float shift_sign(float lower, float upper) {
  const float d = upper - lower;
  return d > 0.0f ? 0.25f : (d < 0.0f ? -0.25f : 0.0f);
}

// Shift of integer peak (x, y) in map (HxW). heat_abs: read |heat| (OMZ decodes the absolute value of its
// signed, NMS'ed map). Writes the shift for x and for y.
HRD_INLINE void adjust_shift(Variant variant, const float* map, int H, int W, int x, int y, bool heat_abs,
                             float* sx, float* sy) {
  auto at = [&](int yy, int xx) {
    const float v = map[yy * W + xx];
    return heat_abs ? fabsf(v) : v;
  };
  *sx = 0.0f;
  *sy = 0.0f;
  switch (variant) {
    case Variant::HigherHRNet:
      *sx = shift_hh(at(y, x - 1 < 0 ? 0 : x - 1), at(y, x + 1 > W - 1 ? W - 1 : x + 1));
      *sy = shift_hh(at(y - 1 < 0 ? 0 : y - 1, x), at(y + 1 > H - 1 ? H - 1 : y + 1, x));
      break;
    case Variant::MMPose:
      // mmpose refine_keypoints: x moves only if 1 < x < W-1 and 0 < y < H; y only if 1 < y < H-1 and 0 < x < W.
      if (1 < x && x < W - 1 && 0 < y && y < H) *sx = shift_sign(at(y, x - 1), at(y, x + 1));
      if (1 < y && y < H - 1 && 0 < x && x < W) *sy = shift_sign(at(y - 1, x), at(y + 1, x));
      break;
    case Variant::OMZ:
      // Interior only: 1 < x < W-1 and 1 < y < H-1, both axes together.
      if (1 < x && x < W - 1 && 1 < y && y < H - 1) {
        *sx = shift_sign(at(y, x - 1), at(y, x + 1));
        *sy = shift_sign(at(y - 1, x), at(y + 1, x));
      }
      break;
  }
}

// The shift of a detected joint: with use_udp, the DARK-UDP step on the log map (map is that log map);
// else the bottom-up DARK step where the `dark` option is on and the step applies (dark_shift_bottomup);
// else the preset's adjust if `adjust` is on; else none.
HRD_INLINE void joint_shift(Variant variant, const float* map, int H, int W, int x, int y, bool heat_abs,
                            bool adjust, const DarkSpec& dark, float* sx, float* sy) {
  *sx = 0.0f;
  *sy = 0.0f;
  if (dark.mode == Subpixel::Udp) {
    udp_shift(map, H, W, x, y, sx, sy);  // writes only when the step applies
    return;
  }
  if (dark_shift_bottomup(map, H, W, x, y, heat_abs, dark, sx, sy)) return;
  if (adjust) adjust_shift(variant, map, H, W, x, y, heat_abs, sx, sy);
}

// ---- refine: the penalty of a tag against the person's tag ---------------------------------------------

// Sum of squares in sequential order (numpy reduction over an outer axis).
HRD_INLINE float sq_sequential(const float* t, const float* p, int L) {
  float d = t[0] - p[0];
  float res = d * d;
  for (int l = 1; l < L; ++l) {
    d = t[l] - p[l];
    res += d * d;
  }
  return res;
}

// float -> int32 truncation as numpy's astype(int32) for values in range; finite values outside saturate
// (numpy's result there is undefined). Non-finite values stay non-finite (NaN -> NaN, +inf -> +inf), so a
// pixel with a NaN or infinite tag gets a NaN or -inf score and is never used, as in the other variants
// (and the pruned search, whose tile tag ranges leave non-finite tags out, relies on it).
HRD_INLINE float trunc_int32_f(float v) {
  if (!(v - v == 0.0f)) return v;
  if (!(v < 2147483648.0f)) return 2147483648.0f;
  if (v < -2147483648.0f) return -2147483648.0f;
  return static_cast<float>(static_cast<int32_t>(v));
}

// t, p: L. The amount subtracted from the heat value. LC > 0 fixes L at compile time (the CPU scan
// instantiates LC = 1, the common case, so the loop vectorises); the expression is the same either way.
template <Variant V, int LC>
HRD_INLINE float refine_penalty_t(const float* t, const float* p, int L) {
  const int n = LC > 0 ? LC : L;
  if (V == Variant::HigherHRNet) return round_half_even(sqrtf(pairwise_sum_sq<float>(t, p, n)));
  if (V == Variant::MMPose) return round_half_even(sqrtf(sq_sequential(t, p, n))) * 100.0f;
  return trunc_int32_f(fabsf(t[0] - p[0]) + 0.5f);
}

HRD_INLINE float refine_score(float heat, float penalty) { return heat - penalty; }

// Does (score, idx) beat the best so far? Greater score, or equal score at a smaller flat index.
// NaN scores never win.
HRD_INLINE bool refine_better(float score, int32_t idx, float best, int32_t best_idx) {
  return score > best || (score == best && idx < best_idx);
}

// The same decision as one integer for the device's atomicMax: only pixels with a finite heat and a finite
// score take part (a search whose best score is -inf or NaN finds nothing, on every backend).
HRD_INLINE unsigned long long refine_key(float score, int32_t idx) { return value_index_key(score, idx); }

// ---- using a refine hit -------------------------------------------------------------------------------

// Shift applied at a refined joint (x, y) of map (HxW): HigherHRNet adjusts the signed map, OMZ |heat|,
// mmpose does not adjust refined joints. With the `dark` option every variant takes the DARK step where it
// applies (on the map as that variant reads it).
HRD_INLINE void refine_hit_shift(Variant variant, const float* map, int H, int W, int x, int y,
                                 const DarkSpec& dark, float* sx, float* sy) {
  *sx = 0.0f;
  *sy = 0.0f;
  if (dark_shift_bottomup(map, H, W, x, y, variant == Variant::OMZ, dark, sx, sy)) return;
  if (variant == Variant::HigherHRNet) adjust_shift(Variant::HigherHRNet, map, H, W, x, y, false, sx, sy);
  if (variant == Variant::OMZ) adjust_shift(Variant::OMZ, map, H, W, x, y, true, sx, sy);
}

// Write the refined joint into kp (x, y, score of joint k). HigherHRNet and OMZ take it only with a positive
// heat; mmpose always, at the integer pixel (plus the DARK shift, zero without the `dark` option).
HRD_INLINE void apply_refine_hit(Variant variant, float delta, float* kp /* Kx3 */, int k, int x, int y,
                                 float heat, float sx, float sy) {
  switch (variant) {
    case Variant::HigherHRNet:
      if (heat > 0.0f) {
        kp[3 * k] = float((double(x) + double(delta)) + double(sx));
        kp[3 * k + 1] = float((double(y) + double(delta)) + double(sy));
        kp[3 * k + 2] = heat;
      }
      break;
    case Variant::MMPose:
      kp[3 * k] = float(x) + sx;
      kp[3 * k + 1] = float(y) + sy;
      kp[3 * k + 2] = heat;
      break;
    case Variant::OMZ:
      if (heat > 0.0f) {
        kp[3 * k] = float(x) + sx;
        kp[3 * k + 1] = float(y) + sy;
        kp[3 * k + 2] = heat;
      }
      break;
  }
}

// float -> int as numpy's astype(int) (truncation toward zero), then clipped into [0, hi].
HRD_INLINE int trunc_clip(float v, int hi) {
  if (!(v > -1.0f)) return 0;  // also NaN
  if (!(v < float(hi))) return hi;
  return int(v);
}

// HigherHRNet/mmpose person tag for refine: the tags under the person's detected joints (score > 0), in
// joint order, at the truncated adjusted coordinates. Writes each joint's offset k*H*W + y*W + x into
// pix (K) and returns how many; the tag is numpy_mean_rows_f32 of those rows.
HRD_INLINE int person_tag_pixels(const float* kp /* Kx3 */, int K, int H, int W, int64_t* pix /* K */) {
  int n = 0;
  for (int k = 0; k < K; ++k) {
    if (!(kp[3 * k + 2] > 0.0f)) continue;
    const int x = trunc_clip(kp[3 * k], W - 1), y = trunc_clip(kp[3 * k + 1], H - 1);
    pix[n++] = int64_t(k) * H * W + int64_t(y) * W + x;
  }
  return n;
}

}  // namespace hrd
