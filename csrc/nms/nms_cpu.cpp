#include <cmath>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "nms/nms.h"
#include "nms/nms_rule.h"
#include "topk/topk_order.h"

namespace hrd {
namespace {

// is_local_max (nms_rule.h) with the four direct neighbours tested first: a pixel on the slope of a peak
// almost always has a greater one among them, so most non-peaks are rejected after a few loads instead of a
// scan of the whole window. Same predicate, tests in any order (tests/test_decoder.py checks the
// candidates against the per-pixel rule).
inline bool local_max_fast(const float* map, int H, int W, int y, int x, int r) {
  const float v = map[y * W + x];
  auto greater = [&](int yy, int xx) {
    const float n = map[yy * W + xx];
    return n > v && finite_f(n);
  };
  if ((x > 0 && greater(y, x - 1)) || (x + 1 < W && greater(y, x + 1)) || (y > 0 && greater(y - 1, x)) ||
      (y + 1 < H && greater(y + 1, x)))
    return false;
  return is_local_max(map, H, W, y, x, r);
}

}  // namespace

int topk_candidates_hw(const float* heat, int H, int W, int radius, double threshold, int M, Peak* out) {
  const float tf = float_floor(threshold);
  int count = 0;
  auto consider = [&](int y, int x) {
    const float v = heat[y * W + x];
    if (!finite_f(v)) return;
    if (radius > 0 && !local_max_fast(heat, H, W, y, x, radius)) return;
    count = topk_insert(out, count, M, Peak{v, y * W + x});
  };
  for (int y = 0; y < H; ++y) {
    const float* row = heat + static_cast<long>(y) * W;
    int x = 0;
#if defined(__SSE2__)
    // Most pixels are below the threshold: test 8 at a time and look closer only at the hits.
    const __m128 t = _mm_set1_ps(tf);
    for (; x + 8 <= W; x += 8) {
      unsigned m = unsigned(_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(row + x), t))) |
                   (unsigned(_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(row + x + 4), t))) << 4);
      while (m) {
        const int b = __builtin_ctz(m);
        m &= m - 1;
        consider(y, x + b);
      }
    }
#endif
    for (; x < W; ++x)
      if (row[x] > tf) consider(y, x);
  }
  return count;
}

}  // namespace hrd
