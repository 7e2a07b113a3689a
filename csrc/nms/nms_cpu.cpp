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

// One pass over the map in blocks of 4 rows x 16 columns: the candidates (NMS, unless M < 0) and, with
// HMAX, the hottest heat of each 4x4 tile. Candidates: v > thr and v < +inf (NaN fails both); above the
// threshold, interior pixels meet their four direct neighbours four at a time, and only the survivors take
// the full window test. Tile heat: maxps with the accumulator second ignores NaN; +inf counts (an upper
// bound is all refine needs); the columns after the last 16-wide block skip non-finite values.
template <bool HMAX, bool ABS>
int scan_blocks(const float* heat, int H, int W, int radius, float tf, int M, Peak* out, float* hmax) {
  const bool nms = M >= 0;
  int count = 0;
  // (y, x) is above the threshold and finite; near: its direct neighbours are known not to suppress it.
  auto consider = [&](int y, int x, bool near) {
    if (radius > 0 && !(near ? is_local_max(heat, H, W, y, x, radius) : local_max_fast(heat, H, W, y, x, radius)))
      return;
    count = topk_insert(out, count, M, Peak{heat[y * W + x], y * W + x});
  };
  const int TX = (W + 3) / 4;
  for (int y0 = 0; y0 < H; y0 += 4) {
    const int y1 = y0 + 4 < H ? y0 + 4 : H;
    int x = 0;
#if defined(__SSE2__)
    const __m128 t = _mm_set1_ps(tf), inf = _mm_set1_ps(INFINITY), ninf = _mm_set1_ps(-INFINITY);
    const __m128 sign = _mm_set1_ps(-0.0f);
    for (; x + 16 <= W; x += 16) {
      // Column maxima over the block's rows: signed (s, for the threshold: some v > thr iff the maximum of
      // the non-NaN values is) and, for heat_abs, of |v| (a, the tile heat).
      __m128 s0 = ninf, s1 = ninf, s2 = ninf, s3 = ninf, a0 = ninf, a1 = ninf, a2 = ninf, a3 = ninf;
      for (int y = y0; y < y1; ++y) {
        const float* p = heat + int64_t(y) * W + x;
        const __m128 v0 = _mm_loadu_ps(p), v1 = _mm_loadu_ps(p + 4), v2 = _mm_loadu_ps(p + 8),
                     v3 = _mm_loadu_ps(p + 12);
        if (nms || !ABS) {
          s0 = _mm_max_ps(v0, s0);
          s1 = _mm_max_ps(v1, s1);
          s2 = _mm_max_ps(v2, s2);
          s3 = _mm_max_ps(v3, s3);
        }
        if (HMAX && ABS) {
          a0 = _mm_max_ps(_mm_andnot_ps(sign, v0), a0);
          a1 = _mm_max_ps(_mm_andnot_ps(sign, v1), a1);
          a2 = _mm_max_ps(_mm_andnot_ps(sign, v2), a2);
          a3 = _mm_max_ps(_mm_andnot_ps(sign, v3), a3);
        }
      }
      const bool any = nms && _mm_movemask_ps(_mm_or_ps(_mm_or_ps(_mm_cmpgt_ps(s0, t), _mm_cmpgt_ps(s1, t)),
                                                        _mm_or_ps(_mm_cmpgt_ps(s2, t), _mm_cmpgt_ps(s3, t))));
      if (HMAX) {
        __m128 h0 = ABS ? a0 : s0, h1 = ABS ? a1 : s1, h2 = ABS ? a2 : s2, h3 = ABS ? a3 : s3;
        _MM_TRANSPOSE4_PS(h0, h1, h2, h3);
        _mm_storeu_ps(hmax + (y0 / 4) * TX + x / 4, _mm_max_ps(_mm_max_ps(h0, h1), _mm_max_ps(h2, h3)));
      }
      if (!any) continue;
      for (int y = y0; y < y1; ++y) {
        const float* row = heat + int64_t(y) * W;
        const bool rows_around = y > 0 && y + 1 < H;
        for (int xq = x; xq < x + 16; xq += 4) {  // (loaded again: keeping the vectors costs the common case)
          const __m128 v = _mm_loadu_ps(row + xq);
          const __m128 c = _mm_and_ps(_mm_cmpgt_ps(v, t), _mm_cmplt_ps(v, inf));
          if (!_mm_movemask_ps(c)) continue;
          const bool inner = radius > 0 && rows_around && xq > 0 && xq + 4 < W;
          unsigned m = unsigned(_mm_movemask_ps(inner ? _mm_andnot_ps(suppressed4(row + xq, W, v), c) : c));
          while (m) {
            const int b = __builtin_ctz(m);
            m &= m - 1;
            consider(y, xq + b, inner);
          }
        }
      }
    }
#endif
    for (int y = y0; y < y1; ++y) {
      const float* row = heat + int64_t(y) * W;
      for (int xx = x; nms && xx < W; ++xx)
        if (row[xx] > tf && finite_f(row[xx])) consider(y, xx, false);
    }
    for (int tx = x / 4; HMAX && tx < TX; ++tx) {
      float hm = -INFINITY;
      for (int y = y0; y < y1; ++y)
        for (int xx = tx * 4; xx < W && xx < tx * 4 + 4; ++xx) {
          const float v = ABS ? fabsf(heat[int64_t(y) * W + xx]) : heat[int64_t(y) * W + xx];
          if (finite_f(v) && v > hm) hm = v;
        }
      hmax[(y0 / 4) * TX + tx] = hm;
    }
  }
  return count;
}

}  // namespace

int topk_candidates_hw(const float* heat, int H, int W, int radius, double threshold, int M, Peak* out,
                       float* tile_hmax, bool heat_abs) {
  const float tf = float_floor(threshold);
  if (M < 0) M = 0;
  if (!tile_hmax) return scan_blocks<false, false>(heat, H, W, radius, tf, M, out, nullptr);
  if (heat_abs) return scan_blocks<true, true>(heat, H, W, radius, tf, M, out, tile_hmax);
  return scan_blocks<true, false>(heat, H, W, radius, tf, M, out, tile_hmax);
}

void tile_heat_t4_hw(const float* heat, int H, int W, bool heat_abs, float* hmax) {
  if (heat_abs)
    scan_blocks<true, true>(heat, H, W, 0, 0.0f, -1, nullptr, hmax);
  else
    scan_blocks<true, false>(heat, H, W, 0, 0.0f, -1, nullptr, hmax);
}

}  // namespace hrd
