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

#if defined(__SSE2__)
// Lanes of v (four pixels with a neighbour on every side) that some direct neighbour suppresses: n > v and
// n finite (n < +inf: n > v already excludes NaN and -inf), as in is_local_max.
inline __m128 suppressed4(const float* p, int W, __m128 v) {
  const __m128 inf = _mm_set1_ps(INFINITY);
  auto sup = [&](const float* q) {
    const __m128 n = _mm_loadu_ps(q);
    return _mm_and_ps(_mm_cmpgt_ps(n, v), _mm_cmplt_ps(n, inf));
  };
  return _mm_or_ps(_mm_or_ps(sup(p - 1), sup(p + 1)), _mm_or_ps(sup(p - W), sup(p + W)));
}
#endif

}  // namespace

int topk_candidates_hw(const float* heat, int H, int W, int radius, double threshold, int M, Peak* out) {
  const float tf = float_floor(threshold);
  int count = 0;
  // (y, x) is above the threshold and finite; near is true when its direct neighbours are already known
  // not to suppress it.
  auto consider = [&](int y, int x, bool near) {
    if (radius > 0 && !(near ? is_local_max(heat, H, W, y, x, radius) : local_max_fast(heat, H, W, y, x, radius)))
      return;
    count = topk_insert(out, count, M, Peak{heat[y * W + x], y * W + x});
  };
  for (int y = 0; y < H; ++y) {
    const float* row = heat + static_cast<long>(y) * W;
    int x = 0;
#if defined(__SSE2__)
    // Most pixels are below the threshold: test 16 at a time and look closer only at the hits. Candidates:
    // v > thr and v < +inf (NaN fails both); interior pixels then meet their four neighbours four at a time.
    const __m128 t = _mm_set1_ps(tf), inf = _mm_set1_ps(INFINITY);
    const bool rows_around = y > 0 && y + 1 < H;
    for (; x + 16 <= W; x += 16) {
      const __m128 c01 = _mm_or_ps(_mm_cmpgt_ps(_mm_loadu_ps(row + x), t), _mm_cmpgt_ps(_mm_loadu_ps(row + x + 4), t));
      const __m128 c23 =
          _mm_or_ps(_mm_cmpgt_ps(_mm_loadu_ps(row + x + 8), t), _mm_cmpgt_ps(_mm_loadu_ps(row + x + 12), t));
      if (!_mm_movemask_ps(_mm_or_ps(c01, c23))) continue;
      for (int q = 0; q < 4; ++q) {  // (loaded again: keeping the vectors costs the common case stores)
        const int xq = x + 4 * q;
        const __m128 v = _mm_loadu_ps(row + xq);
        const __m128 cq = _mm_and_ps(_mm_cmpgt_ps(v, t), _mm_cmplt_ps(v, inf));
        if (!_mm_movemask_ps(cq)) continue;
        const bool inner = radius > 0 && rows_around && xq > 0 && xq + 4 < W;
        unsigned m = unsigned(_mm_movemask_ps(inner ? _mm_andnot_ps(suppressed4(row + xq, W, v), cq) : cq));
        while (m) {
          const int b = __builtin_ctz(m);
          m &= m - 1;
          consider(y, xq + b, inner);
        }
      }
    }
#endif
    for (; x < W; ++x)
      if (row[x] > tf && finite_f(row[x])) consider(y, x, false);
  }
  return count;
}

}  // namespace hrd
