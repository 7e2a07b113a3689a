#include <cmath>
#include <cstdint>
#include <vector>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "common/cpu_features.h"
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

// The streaming part of a row, x in [x0, x1) (a multiple of 16 long): with HMAX, fold the row into the
// column maxima cm (maxps with the accumulator second ignores NaN; the first row of a tile row folds into
// -inf instead of cm); unless !nms, write the first x of every group of four pixels holding a value > t
// to qx and return how many (NaN compares false; +inf passes here, the caller's finite test drops it).
// Two builds of this loop, chosen once at run time: SSE2, 16 pixels a step, and AVX2, 32. Only exact
// comparisons and maxima: both give the same groups and maxima.
#if defined(__SSE2__)
// A prefetch hint for the line dist floats after p. The row filters read the maps once, in order; asking
// for the data a couple of rows ahead cut the NMS pass of 17x512x512 maps from 3.3-3.9 to 2.4-2.7 ms (one
// thread, cold caches) on a VM whose memory was slow, and changed nothing measurable where the hardware
// prefetcher keeps up. A hint never faults, so the address may lie past the map: it is formed as an
// integer, never as an out-of-bounds pointer.
inline void prefetch_ahead(const float* p, int dist) {
  _mm_prefetch(reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) + uintptr_t(dist) * sizeof(float)),
               _MM_HINT_T0);
}

// How far ahead the row filters prefetch, in floats: two rows, at least 2 KB and at most 8 KB (the best
// distances measured were 256-1024 floats on 256-wide maps and 1024-2048 on 512-wide ones).
inline int prefetch_distance(int W) { return W < 256 ? 512 : W > 1024 ? 2048 : 2 * W; }

template <bool HMAX, bool ABS>
int row_filter_sse2(const float* row, int x0, int x1, float* cm, bool first, float tf, bool nms, int* qx,
                    int pf) {
  const __m128 t = _mm_set1_ps(tf), sign = _mm_set1_ps(-0.0f), ninf = _mm_set1_ps(-INFINITY);
  int n = 0;
  for (int x = x0; x < x1; x += 16) {
    prefetch_ahead(row + x, pf);
    __m128 c[4];
    for (int q = 0; q < 4; ++q) {
      const __m128 v = _mm_loadu_ps(row + x + 4 * q);
      if (HMAX)
        _mm_storeu_ps(cm + x + 4 * q, _mm_max_ps(ABS ? _mm_andnot_ps(sign, v) : v, first ? ninf : _mm_loadu_ps(cm + x + 4 * q)));
      c[q] = _mm_cmpgt_ps(v, t);
    }
    if (!nms || !_mm_movemask_ps(_mm_or_ps(_mm_or_ps(c[0], c[1]), _mm_or_ps(c[2], c[3])))) continue;
    for (int q = 0; q < 4; ++q)
      if (_mm_movemask_ps(c[q])) qx[n++] = x + 4 * q;
  }
  return n;
}

#if defined(__x86_64__) && defined(__GNUC__)
#define HRD_AVX2_FILTER 1
template <bool HMAX, bool ABS>
__attribute__((target("avx2"))) int row_filter_avx2(const float* row, int x0, int x1, float* cm, bool first,
                                                    float tf, bool nms, int* qx, int pf) {
  const __m256 t = _mm256_set1_ps(tf), sign = _mm256_set1_ps(-0.0f), ninf = _mm256_set1_ps(-INFINITY);
  int n = 0, x = x0;
  for (; x + 32 <= x1; x += 32) {
    prefetch_ahead(row + x, pf);  // two 64-byte lines a step
    prefetch_ahead(row + x + 16, pf);
    __m256 c[4];
    for (int q = 0; q < 4; ++q) {
      const __m256 v = _mm256_loadu_ps(row + x + 8 * q);
      if (HMAX)
        _mm256_storeu_ps(cm + x + 8 * q, _mm256_max_ps(ABS ? _mm256_andnot_ps(sign, v) : v,
                                                       first ? ninf : _mm256_loadu_ps(cm + x + 8 * q)));
      c[q] = _mm256_cmp_ps(v, t, _CMP_GT_OQ);
    }
    if (!nms || !_mm256_movemask_ps(_mm256_or_ps(_mm256_or_ps(c[0], c[1]), _mm256_or_ps(c[2], c[3])))) continue;
    for (int q = 0; q < 4; ++q) {
      const unsigned m = unsigned(_mm256_movemask_ps(c[q]));
      if (m & 15u) qx[n++] = x + 8 * q;
      if (m >> 4) qx[n++] = x + 8 * q + 4;
    }
  }
  if (x < x1) n += row_filter_sse2<HMAX, ABS>(row, x, x1, cm, first, tf, nms, qx + n, pf);
  return n;
}
#endif

using RowFilter = int (*)(const float*, int, int, float*, bool, float, bool, int*, int);

template <bool HMAX, bool ABS>
RowFilter pick_row_filter() {
#if defined(HRD_AVX2_FILTER)
  if (cpu_has_avx2()) return &row_filter_avx2<HMAX, ABS>;
#endif
  return &row_filter_sse2<HMAX, ABS>;
}
#endif

// One pass over the map, row by row (streaming: walking blocks of several rows at once was twice as slow
// on 512x512 maps), 16 or 32 pixels at a time (the row filter): the candidates (NMS, unless M < 0) and, with HMAX, the hottest heat
// of each 4x4 tile. Candidates: v > thr and v < +inf (NaN fails both); above the threshold, interior
// pixels meet their four direct neighbours four at a time, and only the survivors take the full window
// test. Tile heat: column maxima over a tile row's rows in colmax (W floats), reduced to tiles at its last
// row; maxps with the accumulator second ignores NaN; +inf counts (an upper bound is all refine needs);
// the columns after the last 16-wide block skip non-finite values.
template <bool HMAX, bool ABS>
int scan_rows(const float* heat, int H, int W, int radius, float tf, int M, Peak* out, float* hmax) {
  const bool nms = M >= 0;
  int count = 0;
  // (y, x) is above the threshold and finite; near: its direct neighbours are known not to suppress it.
  auto consider = [&](int y, int x, bool near) {
    if (radius > 0 && !(near ? is_local_max(heat, H, W, y, x, radius) : local_max_fast(heat, H, W, y, x, radius)))
      return;
    count = topk_insert(out, count, M, Peak{heat[y * W + x], y * W + x});
  };
  thread_local std::vector<float> colmax_buf;
  if (colmax_buf.size() < size_t(W)) colmax_buf.resize(size_t(W));
  float* cm = colmax_buf.data();
#if defined(__SSE2__)
  thread_local std::vector<int> qx_buf;
  if (qx_buf.size() < size_t(W)) qx_buf.resize(size_t(W));
  int* qx = qx_buf.data();  // the row filter's groups of four
  static const RowFilter filter = pick_row_filter<HMAX, ABS>();
  const int pf = prefetch_distance(W);
#endif
  const int TX = (W + 3) / 4;
  [[maybe_unused]] const int W16 = W - W % 16;  // the SIMD part of a row
  for (int y = 0; y < H; ++y) {
    const float* row = heat + int64_t(y) * W;
    if (HMAX && y % 4 == 0) {  // a new tile row: the filter starts the columns before W16 afresh
#if defined(__SSE2__)
      for (int i = W16; i < W; ++i) cm[i] = -INFINITY;
#else
      for (int i = 0; i < W; ++i) cm[i] = -INFINITY;
#endif
    }
    int x = 0;
#if defined(__SSE2__)
    const __m128 t = _mm_set1_ps(tf), inf = _mm_set1_ps(INFINITY);
    const bool rows_around = y > 0 && y + 1 < H;
    const int nq = filter(row, 0, W16, cm, HMAX && y % 4 == 0, tf, nms, qx, pf);
    for (int i = 0; i < nq; ++i) {
      const int xq = qx[i];
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
    x = W16;
#endif
    for (; x < W; ++x) {
      const float v = row[x];
      if (nms && v > tf && finite_f(v)) consider(y, x, false);
      if (HMAX) {
        const float a = finite_f(v) ? (ABS ? fabsf(v) : v) : -INFINITY;
        cm[x] = a > cm[x] ? a : cm[x];
      }
    }
    if (!HMAX || !(y % 4 == 3 || y == H - 1)) continue;
    // The tile row is complete: column maxima -> tile maxima.
    float* out_row = hmax + (y / 4) * TX;
    int tx = 0;
#if defined(__SSE2__)
    for (; 4 * tx < W16; tx += 4) {
      __m128 c0 = _mm_loadu_ps(cm + 4 * tx), c1 = _mm_loadu_ps(cm + 4 * tx + 4), c2 = _mm_loadu_ps(cm + 4 * tx + 8),
             c3 = _mm_loadu_ps(cm + 4 * tx + 12);
      _MM_TRANSPOSE4_PS(c0, c1, c2, c3);
      _mm_storeu_ps(out_row + tx, _mm_max_ps(_mm_max_ps(c0, c1), _mm_max_ps(c2, c3)));
    }
#endif
    for (; tx < TX; ++tx) {
      float hm = -INFINITY;
      for (int xx = 4 * tx; xx < W && xx < 4 * tx + 4; ++xx) hm = cm[xx] > hm ? cm[xx] : hm;
      out_row[tx] = hm;
    }
  }
  return count;
}

}  // namespace

int topk_candidates_hw(const float* heat, int H, int W, int radius, double threshold, int M, Peak* out,
                       float* tile_hmax, bool heat_abs) {
  const float tf = float_floor(threshold);
  if (M < 0) M = 0;
  if (!tile_hmax) return scan_rows<false, false>(heat, H, W, radius, tf, M, out, nullptr);
  if (heat_abs) return scan_rows<true, true>(heat, H, W, radius, tf, M, out, tile_hmax);
  return scan_rows<true, false>(heat, H, W, radius, tf, M, out, tile_hmax);
}

void tile_heat_t4_hw(const float* heat, int H, int W, bool heat_abs, float* hmax) {
  if (heat_abs)
    scan_rows<true, true>(heat, H, W, 0, 0.0f, -1, nullptr, hmax);
  else
    scan_rows<true, false>(heat, H, W, 0, 0.0f, -1, nullptr, hmax);
}

}  // namespace hrd
