// Top-down decoding of person-crop heatmaps: the per-map and per-joint rules of the HRNet reference
// (get_max_preds, the quarter-pixel shift of get_final_preds, transform_preds) and of DarkPose (Gaussian
// blur of the zero-padded map, rescale to the original maximum, log, second-order Taylor step).
// Written once; the CPU loop (dark_cpu.cpp) and the CUDA / emulated kernels (dark.cu) call these.
//
// Precision contract (what "the reference formula" means here; python/hrdecode/topdown.py is the NumPy
// twin that evaluates exactly the same operations):
//  * argmax, coordinates, quarter shift and the Taylor derivatives: float32, in the reference's order.
//  * blur: float64 (DarkPose blurs a float64 copy with OpenCV), rows first, then columns, every tap added
//    in ascending order starting from the first; the result is rounded to float32 (DarkPose stores it back
//    into its float32 heatmap array). OpenCV adds in another order, so cv2 agrees to float64 rounding
//    before the float32 rounding (tests/test_topdown.py measures it).
//  * log: float64 log of the float32 value, rounded to float32 (NumPy's float32 log is within 1 ulp).
//  * Taylor offset: -H^-1 d in float64 from the float32 derivatives; the det != 0 decision in float32 as
//    the reference; added to the float32 coordinate in float32.
//  * affine: the three float32 point pairs HRNet builds, solved in closed form in float64.
//
// Non-finite pixels (NaN, +-inf): never the maximum, and read as 0 by the quarter shift and the blur, so
// coordinates are always finite (the references propagate NaN). A map without a finite pixel scores 0.
#pragma once
#include <cmath>
#include <cstdint>

#include "common/host_device.h"
#include "common/numeric.h"

namespace hrd {

enum class TopdownMethod : int { Argmax = 0, Quarter = 1, Dark = 2 };

// A pixel as the sub-pixel steps read it: non-finite -> 0.
HRD_INLINE float finite_or_zero(float v) { return is_finite(v) ? v : 0.0f; }

// ---- get_max_preds -----------------------------------------------------------------------------------

// Order-preserving int32 key of a float (a < b <=> key(a) < key(b) for finite a, b; -0 < +0), INT32_MIN for
// NaN and +-inf. Branch-free integer arithmetic, so the scans below vectorise (float compares with NaN
// semantics do not).
HRD_INLINE int32_t finite_key(float v) {
  const int32_t b = static_cast<int32_t>(float_bits(v));
  const int32_t k = b ^ ((b >> 31) & 0x7fffffff);
  const int32_t finite = ((b & 0x7f800000) - 0x7f800000) >> 31;  // -1 if the exponent is not all ones
  return (k & finite) | (INT32_MIN & ~finite);
}
HRD_INLINE float key_value(int32_t k) {
  return bits_float(static_cast<uint32_t>(k ^ ((k >> 31) & 0x7fffffff)));
}

// map: n values. Flat index of the greatest finite value, the first one on ties (np.argmax); -1 if the
// map has no finite value. *maxval: that pixel's value (0 if none).
// Two passes, the same index as one scan: the greatest key, then the first pixel equal to it (in blocks
// whose keys are tested together; a zero maximum is searched by value, as +0 == -0 in numpy).
HRD_INLINE int64_t argmax_first(const float* map, int64_t n, float* maxval) {
  int32_t m = INT32_MIN;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t k = finite_key(map[i]);
    m = k > m ? k : m;
  }
  *maxval = 0.0f;
  if (m == INT32_MIN) return -1;
  const float mv = key_value(m);
  int64_t i = 0;
  if (mv != 0.0f) {
    for (; i + 32 <= n; i += 32) {
      int32_t hit = 0;
      for (int j = 0; j < 32; ++j) hit |= int32_t(finite_key(map[i + j]) == m);
      if (hit) break;
    }
  }
  for (; i < n; ++i)
    if (map[i] == mv) break;  // mv is finite, so this pixel is finite
  *maxval = map[i];
  return i;
}

// Heatmap coordinates of the peak as get_max_preds computes them in float32: x = idx % W,
// y = floor(idx / W), then (0, 0) unless the maximum is > 0.
HRD_INLINE void peak_coords(int64_t idx, float maxval, int W, float* x, float* y) {
  *x = 0.0f;
  *y = 0.0f;
  if (idx < 0 || !(maxval > 0.0f)) return;
  const float f = float(idx);
  *x = fmodf(f, float(W));
  *y = floorf(f / float(W));
}

// ---- HRNet quarter offset ----------------------------------------------------------------------------

HRD_INLINE float quarter_sign(float d) { return d > 0.0f ? 0.25f : (d < 0.0f ? -0.25f : 0.0f); }

// map: HxW. At p = floor(coord + 0.5), when 1 < px < W-1 and 1 < py < H-1, each coordinate moves a
// quarter pixel towards its greater neighbour (np.sign: no shift on a tie).
HRD_INLINE void quarter_step(const float* map, int H, int W, float* x, float* y) {
  const int px = int(floorf(*x + 0.5f)), py = int(floorf(*y + 0.5f));
  if (!(1 < px && px < W - 1 && 1 < py && py < H - 1)) return;
  const float* row = map + int64_t(py) * W;
  const float ddx = finite_or_zero(row[px + 1]) - finite_or_zero(row[px - 1]);
  const float ddy = finite_or_zero(row[px + W]) - finite_or_zero(row[px - W]);
  *x = *x + quarter_sign(ddx);
  *y = *y + quarter_sign(ddy);
}

// ---- DarkPose ----------------------------------------------------------------------------------------

// Does DarkPose's Taylor step apply at (x, y)? px = int(x): 1 < px < W-2 and 1 < py < H-2 (the five-point
// second differences stay inside the map). Masked peaks sit at (0, 0) and never qualify.
HRD_INLINE bool dark_applies(int H, int W, float x, float y) {
  const int px = int(x), py = int(y);
  return 1 < px && px < W - 2 && 1 < py && py < H - 2;
}

// cv2.getGaussianKernel(k, sigma=0) as GaussianBlur uses it: OpenCV's fixed binomial-like tables up to
// k = 9, else sigma = 0.3 ((k-1)/2 - 1) + 0.8 and normalised samples of exp(-x^2 / (2 sigma^2)).
// Host only (the kernels receive the coefficients). out: k values.
inline void gaussian_kernel_cv(int k, double* out) {
  static const double t1[] = {1.0};
  static const double t3[] = {0.25, 0.5, 0.25};
  static const double t5[] = {0.0625, 0.25, 0.375, 0.25, 0.0625};
  static const double t7[] = {0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125};
  static const double t9[] = {0.015625, 0.05078125, 0.1171875, 0.19921875, 0.234375,
                              0.19921875, 0.1171875, 0.05078125, 0.015625};
  static const double* tabs[] = {t1, t3, t5, t7, t9};
  if (k <= 9) {
    for (int i = 0; i < k; ++i) out[i] = tabs[k / 2][i];
    return;
  }
  const double sigma = ((k - 1) * 0.5 - 1) * 0.3 + 0.8;
  const double scale = -0.5 / (sigma * sigma);
  double sum = 0.0;
  for (int i = 0; i < k; ++i) {
    const double x = i - (k - 1) * 0.5;
    out[i] = std::exp(scale * x * x);
    sum += out[i];
  }
  const double inv = 1.0 / sum;
  for (int i = 0; i < k; ++i) out[i] *= inv;
}

// Row pass of the blur at (y, x) of map (HxW), zero outside the map: sum_j k[j] * map[y, x - r + j],
// j ascending from 0 (the zero taps are added too, so every implementation performs the same additions).
HRD_INLINE double blur_row_at(const float* map, int W, int y, int x, const double* k, int r) {
  const float* row = map + int64_t(y) * W;
  double s = 0.0;
  for (int j = 0; j <= 2 * r; ++j) {
    const int xx = x - r + j;
    const double v = (xx >= 0 && xx < W) ? double(finite_or_zero(row[xx])) : 0.0;
    s = j == 0 ? k[0] * v : s + k[j] * v;
  }
  return s;
}

// Column pass at (y, x) over the row-pass result rows (HxW, zero rows outside), rounded to float32.
HRD_INLINE float blur_col_at(const double* rows, int H, int W, int y, int x, const double* k, int r) {
  double s = 0.0;
  for (int i = 0; i <= 2 * r; ++i) {
    const int yy = y - r + i;
    const double v = (yy >= 0 && yy < H) ? rows[int64_t(yy) * W + x] : 0.0;
    s = i == 0 ? k[0] * v : s + k[i] * v;
  }
  return float(s);
}

// DarkPose's rescale: the blurred map times (original max / blurred max), in float32. A zero blurred
// maximum counts as +0 (which zero np.max reports is unspecified; the step is then skipped anyway).
HRD_INLINE float dark_rescale_factor(float orig_max, float blurred_max) {
  return orig_max / (blurred_max == 0.0f ? 0.0f : blurred_max);
}

// One value of the log map: rescaled, floored at 1e-10 (np.maximum keeps NaN), log.
HRD_INLINE float dark_log(float blurred, float factor) {
  float v = blurred * factor;
  v = v < 1e-10f ? 1e-10f : v;
  return float(log(double(v)));
}

// The offsets of the 5x5 patch around the peak that the Taylor step reads (13 of 25).
HRD_INLINE bool dark_patch_used(int dy, int dx) {
  return (dy == 0 && dx >= -2 && dx <= 2) || (dx == 0 && dy >= -2 && dy <= 2) ||
         ((dy == 1 || dy == -1) && (dx == 1 || dx == -1));
}

constexpr double kDarkMaxOffset = 16777216.0;

// The Taylor step on the log map around the peak: patch is 5x5 row-major, patch[(2+dy)*5 + 2+dx] the log
// value at (y+dy, x+dx) (only dark_patch_used entries are read). Moves (x, y) by -H^-1 d when the float32
// det is non-zero and the offset is finite and at most 2^24 px.
// First and second derivatives of the log map at the patch centre (float32, DarkPose's differences).
struct DarkDerivs {
  float dx, dy, dxx, dxy, dyy;
};
HRD_INLINE DarkDerivs dark_derivatives(const float* patch /* 5x5 */) {
  const float c = patch[12];
  DarkDerivs d;
  d.dx = 0.5f * (patch[13] - patch[11]);
  d.dy = 0.5f * (patch[17] - patch[7]);
  d.dxx = 0.25f * ((patch[14] - 2.0f * c) + patch[10]);
  d.dxy = 0.25f * (((patch[18] - patch[8]) - patch[16]) + patch[6]);
  d.dyy = 0.25f * ((patch[22] - 2.0f * c) + patch[2]);
  return d;
}

// -H^-1 d in float64 from the float32 derivatives (the caller has checked the float32 det).
HRD_INLINE void dark_solve(const DarkDerivs& d, double* ox, double* oy) {
  const double dd = double(d.dxx) * double(d.dyy) - double(d.dxy) * double(d.dxy);
  *ox = -(double(d.dyy) * double(d.dx) - double(d.dxy) * double(d.dy)) / dd;
  *oy = -(double(d.dxx) * double(d.dy) - double(d.dxy) * double(d.dx)) / dd;
}

HRD_INLINE void dark_taylor(const float* patch /* 5x5 */, float* x, float* y) {
  const DarkDerivs d = dark_derivatives(patch);
  const float det = d.dxx * d.dyy - d.dxy * d.dxy;
  if (!(det != 0.0f) || det - det != 0.0f) return;
  double ox, oy;
  dark_solve(d, &ox, &oy);
  // A degenerate step (not finite, or beyond any map: 2^24 px) is skipped; the reference would move the
  // joint there (or to NaN).
  if (!(fabs(ox) <= kDarkMaxOffset && fabs(oy) <= kDarkMaxOffset)) return;
  *x = *x + float(ox);
  *y = *y + float(oy);
}

// ---- DARK for bottom-up joints (hrdecode's rule, the `dark` option) ----------------------------------
//
// A bottom-up map holds many people, so the top-down rescale to the map maximum (a constant in log space,
// seen only through the 1e-10 floor) is left out: the log map is log(max(blur, 1e-10)) of the same blur
// (zero padding, float64 rows then columns, rounded to float32; |heat| for signed OMZ maps). Only the 13
// blurred values the Taylor step reads are computed, each exactly as the whole-map blur would. The step
// is taken only where it is a maximum step (Hessian negative definite) of at most kDarkBottomUpMaxOffset
// px on each axis, inside the map as dark_applies says; anywhere else the preset's quarter-pixel adjust
// applies instead.

constexpr int kMaxBlurTaps = 31;
constexpr double kDarkBottomUpMaxOffset = 1.0;

// Which sub-pixel step replaces the adjust shift, and its blur kernel (host-made with gaussian_kernel_cv,
// passed by value to kernels): k in float64 for DARK, kf in float32 for DARK-UDP (OpenCV blurs float32
// maps with a float32 kernel).
enum class Subpixel : int { None = 0, Dark = 1, Udp = 2 };
struct DarkSpec {
  Subpixel mode = Subpixel::None;
  int taps = 0;
  double k[kMaxBlurTaps];
  float kf[kMaxBlurTaps];
};

// The 13 log values around integer (x, y) (dark_applies(H, W, x, y) must hold) into patch (5x5). Each
// blurred value is blur_col_at over blur_row_at values (the same additions in the same order), with the
// row pass evaluated only where the patch needs it: column offset dx at row offsets |dy| <= reach(dx) + r.
HRD_INLINE int dark_patch_reach(int dx) { return dx == 0 ? 2 : (dx == 1 || dx == -1 ? 1 : 0); }

HRD_INLINE void dark_local_patch(const float* map /* HxW */, int H, int W, int x, int y, bool heat_abs,
                                 const DarkSpec& spec, float* patch /* 5x5 */) {
  const int r = (spec.taps - 1) / 2;
  double rows[kMaxBlurTaps + 4][5];  // row-pass values, row offset -2-r..2+r, column offset -2..2
  double px[kMaxBlurTaps + 4];       // the row's pixels x-2-r .. x+2+r (zero outside the map)
  for (int i = 0; i <= 2 * r + 4; ++i) {
    const int dy = i - 2 - r, yy = y + dy;
    const bool inside = yy >= 0 && yy < H;
    if (inside) {
      const float* row = map + int64_t(yy) * W;
      for (int j = 0; j <= 2 * r + 4; ++j) {
        const int xx = x - 2 - r + j;
        const float f = (xx >= 0 && xx < W) ? finite_or_zero(row[xx]) : 0.0f;
        px[j] = double(heat_abs ? fabsf(f) : f);
      }
    }
    for (int dx = -2; dx <= 2; ++dx) {
      const int reach = dark_patch_reach(dx) + r;
      if (dy < -reach || dy > reach) continue;
      double acc = 0.0;
      if (inside) {  // blur_row_at's additions
        const double* v = px + (dx + 2);
        acc = spec.k[0] * v[0];
        for (int j = 1; j <= 2 * r; ++j) acc = acc + spec.k[j] * v[j];
      }
      rows[i][dx + 2] = acc;
    }
  }
  for (int dx = -2; dx <= 2; ++dx) {
    const int reach = dark_patch_reach(dx);
    for (int dy = -reach; dy <= reach; ++dy) {
      const int base = dy + 2;  // rows index of offset dy - r
      double acc = spec.k[0] * rows[base][dx + 2];  // blur_col_at's additions
      for (int i = 1; i <= 2 * r; ++i) acc = acc + spec.k[i] * rows[base + i][dx + 2];
      patch[(2 + dy) * 5 + 2 + dx] = dark_log(float(acc), 1.0f);
    }
  }
}

// The bottom-up DARK shift of integer joint (x, y): true and (*sx, *sy) when the step applies.
HRD_INLINE bool dark_shift_bottomup(const float* map /* HxW */, int H, int W, int x, int y, bool heat_abs,
                                    const DarkSpec& spec, float* sx, float* sy) {
  if (spec.mode != Subpixel::Dark || !dark_applies(H, W, float(x), float(y))) return false;
  float patch[25];
  dark_local_patch(map, H, W, x, y, heat_abs, spec, patch);
  const DarkDerivs d = dark_derivatives(patch);
  const float det = d.dxx * d.dyy - d.dxy * d.dxy;
  if (!(d.dxx < 0.0f && det > 0.0f) || det - det != 0.0f) return false;
  double ox, oy;
  dark_solve(d, &ox, &oy);
  if (!(fabs(ox) <= kDarkBottomUpMaxOffset && fabs(oy) <= kDarkBottomUpMaxOffset)) return false;
  *sx = float(ox);
  *sy = float(oy);
  return true;
}

// ---- mmpose DARK-UDP (the codec's use_udp=True: gaussian_blur + refine_keypoints_dark_udp) -------------
//
// Per joint map: the zero-padded map blurred with OpenCV's k x k Gaussian in float32, rows then columns, each
// output as OpenCV's symmetric small-kernel filter adds it: centre * k[r] + (left_j + right_j) * k[r+j] for
// j = 1..r (bit-identical to cv2.GaussianBlur for k = 3, the codec's default); rescaled by (map maximum /
// blurred maximum) in float32, clipped to [1e-3, 50], log (float64 log rounded to float32; NumPy's float32
// log, which the codec uses, is within a few ulp of it and CPU-dependent). The Taylor step then reads the
// log map with edge padding, adds float32 eps to the Hessian's diagonal and inverts it in float64, as the
// codec does, at every detected joint. Non-finite pixels read as 0 in the blur; the map maximum is over
// finite pixels (0 if none); a zero blurred maximum keeps the factor at 1 (the codec divides by zero there).
// The codec also fills missing joints from these log maps (it modifies the heatmaps in place), so with
// use_udp the refine search runs on them and filled joints score their log value.

constexpr float kUdpClipLo = 1e-3f, kUdpClipHi = 50.0f;

// One symmetric-tap output along a line: v(j) is the pixel j steps away (zero outside), taps k (2r+1).
template <class Pixel>
HRD_INLINE float udp_symmetric_sum(const Pixel& v, const float* k, int r) {
  float s = v(0) * k[r];
  for (int j = 1; j <= r; ++j) s = s + (v(-j) + v(j)) * k[r + j];
  return s;
}

// Row pass at (y, x) of map (HxW): zero outside the map, non-finite pixels as 0.
HRD_INLINE float udp_blur_row_at(const float* map, int W, int y, int x, const float* k, int r) {
  const float* row = map + int64_t(y) * W;
  return udp_symmetric_sum([&](int j) { const int xx = x + j; return (xx >= 0 && xx < W) ? finite_or_zero(row[xx]) : 0.0f; }, k, r);
}

// Column pass at (y, x) over the row-pass map rows (HxW, zero rows outside).
HRD_INLINE float udp_blur_col_at(const float* rows, int H, int W, int y, int x, const float* k, int r) {
  return udp_symmetric_sum([&](int j) { const int yy = y + j; return (yy >= 0 && yy < H) ? rows[int64_t(yy) * W + x] : 0.0f; }, k, r);
}

HRD_INLINE float udp_factor(float orig_max, float blurred_max) {
  return blurred_max == 0.0f ? 1.0f : orig_max / blurred_max;
}

// One value of the log map from a blurred value.
HRD_INLINE float udp_log(float blurred, float factor) {
  float v = blurred * factor;
  v = v < kUdpClipLo ? kUdpClipLo : (v > kUdpClipHi ? kUdpClipHi : v);
  return float(log(double(v)));
}

// The DARK-UDP shift at integer (x, y) of the log map (HxW), edge-padded. False when the Hessian (plus eps)
// is singular (the codec raises) or the step is not finite or ends outside [-1, W] x [-1, H].
HRD_INLINE bool udp_shift(const float* logmap /* HxW */, int H, int W, int x, int y, float* sx, float* sy) {
  auto at = [&](int yy, int xx) {
    yy = yy < 0 ? 0 : (yy > H - 1 ? H - 1 : yy);
    xx = xx < 0 ? 0 : (xx > W - 1 ? W - 1 : xx);
    return logmap[int64_t(yy) * W + xx];
  };
  const float i_ = at(y, x), ix1 = at(y, x + 1), iy1 = at(y + 1, x), ix1y1 = at(y + 1, x + 1);
  const float ix1_y1_ = at(y - 1, x - 1), ix1_ = at(y, x - 1), iy1_ = at(y - 1, x);
  const float dx = 0.5f * (ix1 - ix1_), dy = 0.5f * (iy1 - iy1_);
  const float dxx = (ix1 - 2.0f * i_) + ix1_, dyy = (iy1 - 2.0f * i_) + iy1_;
  const float dxy = 0.5f * (((((((ix1y1 - ix1) - iy1) + i_) + i_) - ix1_) - iy1_) + ix1_y1_);
  const double eps = 1.1920928955078125e-07;  // np.finfo(np.float32).eps
  const double h00 = double(dxx) + eps, h01 = double(dxy), h11 = double(dyy) + eps;
  const double det = h00 * h11 - h01 * h01;
  if (!(det != 0.0) || !is_finite(det)) return false;
  const double ox = (h11 * double(dx) - h01 * double(dy)) / det;
  const double oy = (h00 * double(dy) - h01 * double(dx)) / det;
  // A step that would end more than 1 px outside the map (possible only off a peak, e.g. on a flat or tiny
  // map) is not taken; the codec moves the joint there. (At the border the codec's edge padding gives steps
  // of about half a pixel outwards, which are taken.)
  const double nx = double(x) - ox, ny = double(y) - oy;
  if (!(nx >= -1.0 && nx <= double(W) && ny >= -1.0 && ny <= double(H))) return false;
  *sx = float(-ox);
  *sy = float(-oy);
  return true;
}

// ---- transform_preds ---------------------------------------------------------------------------------

// HRNet's heatmap -> image affine (get_affine_transform with rot 0, shift 0, inv=1): the centre maps to
// (W/2, H/2), (cx, cy - src_w/2) to (W/2, H/2 - W/2), and a third point at 90 degrees, all stored as
// float32; src_w = scale[0] * 200 in the caller's precision. m: 2x3 row-major, image = m * (x, y, 1).
// Host only (once per crop; the kernels receive m). The float32 points are volatile: GCC 12 at -O2
// (SLP vectorisation) was seen to replace double(float(v)) by v here, losing the float32 rounding.
inline void hrnet_inverse_affine(double cx, double cy, double src_w, int W, int H, double* m /* 2x3 */) {
  volatile float q0x = float(cx), q0y = float(cy);
  volatile float q1x = float(cx + 0.0), q1y = float(cy + src_w * -0.5);
  const float ex = q0x - q1x, ey = q0y - q1y;
  volatile float q2x = q1x + (-ey), q2y = q1y + ex;
  const double half = 0.5 * double(W);
  const double p0x = 0.5 * double(W), p0y = 0.5 * double(H);
  // A (p1 - p0) = q1 - q0 with p1 - p0 = (0, -W/2); A (p2 - p1) = q2 - q1 with p2 - p1 = (-W/2, 0).
  m[0] = (double(q1x) - double(q2x)) / half;
  m[1] = (double(q0x) - double(q1x)) / half;
  m[3] = (double(q1y) - double(q2y)) / half;
  m[4] = (double(q0y) - double(q1y)) / half;
  m[2] = double(q0x) - (m[0] * p0x + m[1] * p0y);
  m[5] = double(q0y) - (m[3] * p0x + m[4] * p0y);
}

HRD_INLINE void apply_affine(const double* m /* 2x3 */, float x, float y, float* out /* 2 */) {
  out[0] = float((m[0] * double(x) + m[1] * double(y)) + m[2]);
  out[1] = float((m[3] * double(x) + m[4] * double(y)) + m[5]);
}

}  // namespace hrd
