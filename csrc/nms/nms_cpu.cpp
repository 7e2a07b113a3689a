#include <cmath>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "nms/nms.h"
#include "nms/nms_rule.h"
#include "topk/topk_order.h"

namespace hrd {

int topk_candidates_hw(const float* heat, int H, int W, int radius, double threshold, int M, Peak* out) {
  const float tf = float_floor(threshold);
  int count = 0;
  auto consider = [&](int y, int x) {
    const float v = heat[y * W + x];
    if (!finite_f(v)) return;
    if (radius > 0 && !is_local_max(heat, H, W, y, x, radius)) return;
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
