// What is a candidate keypoint. Written once; used by the CPU scan and the CUDA kernel.
//
// Rule: a pixel is a candidate of its joint's map iff
//   (1) its value v is finite and v > detection_threshold, and
//   (2) with NMS radius r > 0: no finite pixel in the (2r+1)x(2r+1) window, clipped at the map border, is
//       greater than v.  (Equivalent to v == max_pool(v) with -inf padding, as torch's MaxPool2d does in
//       HigherHRNet and mmpose: every pixel of a plateau survives.)
//       With r == 0 the map is taken as already suppressed (Open Model Zoo models negate non-peaks in the
//       graph), so (1) alone decides.
// Non-finite pixels (NaN, +-inf) are treated as absent: never candidates, never suppress a neighbour.
//
// The threshold is a double in the references (the float32 value is promoted before comparing), so the
// decision uses the largest float <= threshold: v > thr (double)  <=>  v > float_floor(thr).
#pragma once
#include <cmath>

#include "common/host_device.h"

namespace hrd {

HRD_INLINE bool finite_f(float v) { return v - v == 0.0f; }

// Largest float that is <= t (t finite).
inline float float_floor(double t) {
  float f = static_cast<float>(t);
  if (static_cast<double>(f) > t) f = std::nextafter(f, -INFINITY);
  return f;
}

// map: HxW. Assumes (1) already holds for (y, x).
HRD_INLINE bool is_local_max(const float* map, int H, int W, int y, int x, int r) {
  const float v = map[y * W + x];
  const int y0 = y - r < 0 ? 0 : y - r, y1 = y + r >= H ? H - 1 : y + r;
  const int x0 = x - r < 0 ? 0 : x - r, x1 = x + r >= W ? W - 1 : x + r;
  for (int yy = y0; yy <= y1; ++yy) {
    const float* row = map + yy * W;
    for (int xx = x0; xx <= x1; ++xx) {
      const float n = row[xx];
      if (n > v && finite_f(n)) return false;
    }
  }
  return true;
}

// The whole rule for pixel (y, x); thr is float_floor(detection_threshold). The CUDA kernel evaluates this
// at every pixel; the CPU scan reaches the same set faster (threshold first, 16 pixels at a time, then the
// direct neighbours of four pixels at a time).
HRD_INLINE bool is_candidate(const float* map, int H, int W, int y, int x, int r, float thr) {
  const float v = map[y * W + x];
  if (!(v > thr) || !finite_f(v)) return false;
  return r == 0 || is_local_max(map, H, W, y, x, r);
}

}  // namespace hrd
