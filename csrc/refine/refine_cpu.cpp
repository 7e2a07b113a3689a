#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "refine/refine.h"
#include "refine/refine_rule.h"

namespace hrd {
namespace {

// Score pixels [x, x+n) of one row into sc, then examine only those that reach the best. NC > 0 fixes n at
// compile time (the 4-wide tiles of the pruned search), which lets the first loop become straight SIMD code.
#if defined(__SSE2__)
// refine_score(h, refine_penalty_t<V, 1>(t, p)) for four pixels at once, HigherHRNet and mmpose, L = 1: the
// same IEEE operations in the same order (d = t - p; 0 + d*d == d*d; sqrt; round_half_even by adding and
// subtracting 2^23 with the sign restored; x100 for mmpose), so the scores are bit-identical to the scalar
// rule (tests compare the pruned search, which uses this, with the scalar brute-force scan).
// Returns whether any of the four scores reaches `best` (the only ones the caller needs to look at).
template <Variant V, bool ABS>
inline bool scores4_l1(const float* hp, const float* tp, float p, float best, float* sc) {
  static_assert(V != Variant::OMZ, "OMZ's truncating penalty stays scalar");
  const __m128 sign = _mm_set1_ps(-0.0f), two23 = _mm_set1_ps(8388608.0f);
  __m128 h = _mm_loadu_ps(hp);
  if (ABS) h = _mm_andnot_ps(sign, h);
  const __m128 d = _mm_sub_ps(_mm_loadu_ps(tp), _mm_set1_ps(p));
  const __m128 v = _mm_sqrt_ps(_mm_mul_ps(d, d));
  const __m128 a = _mm_andnot_ps(sign, v);
  const __m128 r = _mm_sub_ps(_mm_add_ps(a, two23), two23);
  const __m128 rs = _mm_or_ps(_mm_andnot_ps(sign, r), _mm_and_ps(sign, v));  // copysign(r, v)
  const __m128 small = _mm_cmplt_ps(a, two23);
  __m128 pen = _mm_or_ps(_mm_and_ps(small, rs), _mm_andnot_ps(small, v));
  if (V == Variant::MMPose) pen = _mm_mul_ps(pen, _mm_set1_ps(100.0f));
  const __m128 score = _mm_sub_ps(h, pen);
  _mm_storeu_ps(sc, score);
  return _mm_movemask_ps(_mm_cmpge_ps(score, _mm_set1_ps(best))) != 0;  // NaN compares false, as below
}
#endif

template <Variant V, int LC, bool ABS, int NC>
inline void scan_row(const float* heat, const float* tags, int Ls, const float* p, int32_t i0, int n_rt,
                     float* sc, float& best, int32_t& best_idx, float& best_heat) {
  const int n = NC > 0 ? NC : n_rt;
  const float* hp = heat + i0;
  const float* tp = tags + int64_t(i0) * Ls;
#if defined(__SSE2__)
  if (NC == 4 && LC == 1 && V != Variant::OMZ) {
    if (!scores4_l1<V == Variant::OMZ ? Variant::HigherHRNet : V, ABS>(hp, tp, p[0], best, sc)) return;
  } else
#endif
  {
    for (int j = 0; j < n; ++j) {
      const float h = ABS ? fabsf(hp[j]) : hp[j];
      sc[j] = refine_score(h, refine_penalty_t<V, LC>(tp + int64_t(j) * Ls, p, Ls));
    }
  }
  for (int j = 0; j < n; ++j) {
    if (!(sc[j] >= best)) continue;
    const float h = ABS ? fabsf(hp[j]) : hp[j];
    if (refine_better(sc[j], i0 + j, best, best_idx) && h - h == 0.0f) {
      best = sc[j];
      best_idx = i0 + j;
      best_heat = h;
    }
  }
}

// Visit pixels [y0,y1) x [x0,x1) in raster order, updating best.
template <Variant V, int LC, bool ABS>
inline void scan_box(const float* heat, const float* tags, int W, int L, const float* p, int y0, int y1,
                     int x0, int x1, float& best, int32_t& best_idx, float& best_heat) {
  constexpr int kChunk = 64;
  float sc[kChunk];
  const int Ls = LC > 0 ? LC : L;
  if (x1 - x0 == 4) {
    for (int y = y0; y < y1; ++y)
      scan_row<V, LC, ABS, 4>(heat, tags, Ls, p, y * W + x0, 4, sc, best, best_idx, best_heat);
    return;
  }
  for (int y = y0; y < y1; ++y)
    for (int xs = x0; xs < x1; xs += kChunk)
      scan_row<V, LC, ABS, 0>(heat, tags, Ls, p, y * W + xs, x1 - xs < kChunk ? x1 - xs : kChunk, sc, best,
                              best_idx, best_heat);
}

constexpr float kInf = std::numeric_limits<float>::infinity();

// Non-finite values map to the neutral element of the reduction (NaN compares false; +-inf excluded
// explicitly), written as selects so the loops vectorise.
inline float finite_or(float v, float neutral) { return (v < kInf && v > -kInf) ? v : neutral; }

// The tiles of one tile row [y0, y1): TW is the tile width when known at compile time (0: g.T).
template <int TW, bool ABS>
void summarise_tile_row(const float* heat, const float* tags, int W, int L, TileGrid g, int ty, int y0, int y1,
                        const TileSummary& s) {
  const int T = TW > 0 ? TW : g.T;
  for (int tx = 0; tx < g.TX; ++tx) {
    const int t = ty * g.TX + tx;
    const int x0 = tx * T, n = x0 + T < W ? T : W - x0;
    float hm = -kInf;
    for (int y = y0; y < y1; ++y) {
      const float* hr = heat + int64_t(y) * W + x0;
      if (n == T) {
        for (int j = 0; j < T; ++j) hm = fmaxf_keep(hm, finite_or(ABS ? fabsf(hr[j]) : hr[j], -kInf));
      } else {
        for (int j = 0; j < n; ++j) hm = fmaxf_keep(hm, finite_or(ABS ? fabsf(hr[j]) : hr[j], -kInf));
      }
    }
    s.hmax[t] = hm;
    float* lo = s.tlo + int64_t(t) * L;
    float* hi = s.thi + int64_t(t) * L;
    for (int l = 0; l < L; ++l) {
      lo[l] = kInf;
      hi[l] = -kInf;
    }
    for (int y = y0; y < y1; ++y) {
      const float* tp = tags + (int64_t(y) * W + x0) * L;
      if (L == 1) {
        float a = lo[0], b = hi[0];
        for (int j = 0; j < n; ++j) {
          a = fminf_keep(a, finite_or(tp[j], kInf));
          b = fmaxf_keep(b, finite_or(tp[j], -kInf));
        }
        lo[0] = a;
        hi[0] = b;
      } else {
        for (int j = 0; j < n * L; ++j) {
          const int l = j % L;
          lo[l] = fminf_keep(lo[l], finite_or(tp[j], kInf));
          hi[l] = fmaxf_keep(hi[l], finite_or(tp[j], -kInf));
        }
      }
    }
  }
}

#if defined(__SSE2__)
// The common case, 4x4 tiles and one tag dimension, with SSE2: one vector per tile row. maxps/minps return
// their second operand when either is NaN, so with the accumulator second NaN pixels are ignored for free.
// Infinite values are not excluded here: they can only widen a tile's range or raise its heat, which keeps
// every bound valid (a looser bound changes what is scanned, never the result: such pixels never win).
template <bool ABS>
void summarise_tile_row_sse_t4_l1(const float* heat, const float* tags, int W, TileGrid g, int ty, int y0, int y1,
                                  const TileSummary& s) {
  const __m128 pinf = _mm_set1_ps(kInf), ninf = _mm_set1_ps(-kInf);
  const __m128 absmask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
  auto hmax4 = [](__m128 v) {
    v = _mm_max_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
    v = _mm_max_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(v);
  };
  auto hmin4 = [](__m128 v) {
    v = _mm_min_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
    v = _mm_min_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(v);
  };
  const int full = W / 4;  // tiles with 4 columns
  int tx = 0;
  // Four tiles at a time: per tile a vertical reduction over its rows, then one 4x4 transpose turns the
  // four horizontal reductions into three vector operations.
  for (; tx + 4 <= full; tx += 4) {
    __m128 hm[4], lo[4], hi[4];
    for (int q = 0; q < 4; ++q) {
      hm[q] = ninf;
      lo[q] = pinf;
      hi[q] = ninf;
    }
    for (int y = y0; y < y1; ++y) {
      const float* hr = heat + int64_t(y) * W + tx * 4;
      const float* tr = tags + int64_t(y) * W + tx * 4;
      for (int q = 0; q < 4; ++q) {
        __m128 h = _mm_loadu_ps(hr + 4 * q);
        if (ABS) h = _mm_and_ps(h, absmask);
        hm[q] = _mm_max_ps(h, hm[q]);
        const __m128 t = _mm_loadu_ps(tr + 4 * q);
        lo[q] = _mm_min_ps(t, lo[q]);
        hi[q] = _mm_max_ps(t, hi[q]);
      }
    }
    _MM_TRANSPOSE4_PS(hm[0], hm[1], hm[2], hm[3]);
    _MM_TRANSPOSE4_PS(lo[0], lo[1], lo[2], lo[3]);
    _MM_TRANSPOSE4_PS(hi[0], hi[1], hi[2], hi[3]);
    const int t = ty * g.TX + tx;
    _mm_storeu_ps(s.hmax + t, _mm_max_ps(_mm_max_ps(hm[0], hm[1]), _mm_max_ps(hm[2], hm[3])));
    _mm_storeu_ps(s.tlo + t, _mm_min_ps(_mm_min_ps(lo[0], lo[1]), _mm_min_ps(lo[2], lo[3])));
    _mm_storeu_ps(s.thi + t, _mm_max_ps(_mm_max_ps(hi[0], hi[1]), _mm_max_ps(hi[2], hi[3])));
  }
  for (; tx < full; ++tx) {
    __m128 hm = ninf, lo = pinf, hi = ninf;
    for (int y = y0; y < y1; ++y) {
      __m128 h = _mm_loadu_ps(heat + int64_t(y) * W + tx * 4);
      if (ABS) h = _mm_and_ps(h, absmask);
      hm = _mm_max_ps(h, hm);
      const __m128 t = _mm_loadu_ps(tags + int64_t(y) * W + tx * 4);
      lo = _mm_min_ps(t, lo);
      hi = _mm_max_ps(t, hi);
    }
    const int t = ty * g.TX + tx;
    s.hmax[t] = hmax4(hm);
    s.tlo[t] = hmin4(lo);
    s.thi[t] = hmax4(hi);
  }
  if (full < g.TX) {  // a narrower last tile
    const int tx = full, t = ty * g.TX + tx, x0 = tx * 4, n = W - x0;
    float hmv = -kInf, a = kInf, b = -kInf;
    for (int y = y0; y < y1; ++y)
      for (int j = 0; j < n; ++j) {
        const float h0 = heat[int64_t(y) * W + x0 + j];
        hmv = fmaxf_keep(hmv, finite_or(ABS ? fabsf(h0) : h0, -kInf));
        const float v = tags[int64_t(y) * W + x0 + j];
        a = fminf_keep(a, finite_or(v, kInf));
        b = fmaxf_keep(b, finite_or(v, -kInf));
      }
    s.hmax[t] = hmv;
    s.tlo[t] = a;
    s.thi[t] = b;
  }
}
#endif

// Heat bucket: the top 12 bits of the order-preserving integer key of a float (sign, exponent, 3 mantissa
// bits). Larger float -> larger or equal bucket.
inline uint32_t heat_bucket(float f) { return ordered_bits(f) >> 20; }
constexpr int kBuckets = 4096;
constexpr int kCountingSortMinTiles = 1024;  // below this, clearing 4096 counters costs more than sorting

// Tiles by decreasing heat bucket, ascending tile index within a bucket: a counting sort for large grids,
// a comparison sort of (bucket, index) keys for small ones (same order).
inline void sort_by_heat(TileGrid g, const TileSummary& s) {
  const int NT = g.TY * g.TX;
  if (NT < kCountingSortMinTiles) {
    uint64_t keys[kCountingSortMinTiles];
    for (int t = 0; t < NT; ++t) keys[t] = (uint64_t(kBuckets - 1 - heat_bucket(s.hmax[t])) << 32) | uint32_t(t);
    std::sort(keys, keys + NT);
    for (int t = 0; t < NT; ++t) s.order[t] = int32_t(keys[t] & 0xFFFFFFFFu);
    return;
  }
  // After the order live kBuckets + 1 counters, then each tile's bucket (reversed: 0 = hottest). Only the
  // range of buckets that occurs is cleared and summed (a map's tiles span a few dozen buckets).
  int32_t* start = s.order + NT;
  int32_t* bkt = start + kBuckets + 1;
  int lo = kBuckets, hi = 0;
  for (int t = 0; t < NT; ++t) {
    const int b = kBuckets - 1 - int(heat_bucket(s.hmax[t]));
    bkt[t] = b;
    lo = b < lo ? b : lo;
    hi = b > hi ? b : hi;
  }
  std::memset(start + lo, 0, sizeof(int32_t) * size_t(hi - lo + 2));
  for (int t = 0; t < NT; ++t) ++start[bkt[t] + 1];
  for (int b = lo; b < hi; ++b) start[b + 1] += start[b];
  for (int t = 0; t < NT; ++t) s.order[start[bkt[t]]++] = t;
}

template <bool ABS>
void summaries(const float* heat, const float* tags, int H, int W, int L, TileGrid g, const TileSummary& s) {
  for (int ty = 0; ty < g.TY; ++ty) {
    const int y0 = ty * g.T, y1 = y0 + g.T < H ? y0 + g.T : H;
#if defined(__SSE2__)
    if (g.T == 4 && L == 1) {
      summarise_tile_row_sse_t4_l1<ABS>(heat, tags, W, g, ty, y0, y1, s);
      continue;
    }
#endif
    if (g.T == 4)
      summarise_tile_row<4, ABS>(heat, tags, W, L, g, ty, y0, y1, s);
    else
      summarise_tile_row<0, ABS>(heat, tags, W, L, g, ty, y0, y1, s);
  }
  sort_by_heat(g, s);
}

}  // namespace

std::size_t tile_summary_words(TileGrid g, int L) {
  const std::size_t nt = std::size_t(g.TY) * g.TX;
  return nt * (1 + 2 * std::size_t(L)) + nt + kBuckets + 1 + nt;
}

TileSummary tile_summary_at(float* base, TileGrid g, int L) {
  const std::size_t nt = std::size_t(g.TY) * g.TX;
  static_assert(sizeof(float) == sizeof(int32_t), "4-byte words");
  TileSummary s;
  s.hmax = base;
  s.tlo = s.hmax + nt;
  s.thi = s.tlo + nt * L;
  s.order = reinterpret_cast<int32_t*>(s.thi + nt * L);
  return s;
}

void tile_summaries_hw(const float* heat, const float* tags, int H, int W, int L, TileGrid g, bool heat_abs,
                       const TileSummary& out) {
  if (heat_abs)
    summaries<true>(heat, tags, H, W, L, g, out);
  else
    summaries<false>(heat, tags, H, W, L, g, out);
}

namespace {

template <Variant V, int LC, bool ABS>
RefineHit search_impl(const float* heat, const float* tags, int H, int W, int L, const float* p, TileGrid g,
                      const TileSummary& sum) {
  constexpr int kMaxBoundL = 64;
  float nearest[kMaxBoundL];
  const int Ln = LC > 0 ? LC : L;
  float best = -kInf;
  int32_t best_idx = std::numeric_limits<int32_t>::max();
  float best_heat = 0.0f;
  uint32_t best_bucket = heat_bucket(best);
  int64_t pixels = 0;
  const int NT = g.TY * g.TX;
  for (int i = 0; i < NT; ++i) {
    const int t = sum.order[i];
    const float hm = sum.hmax[t];
    if (hm < best) {
      // Penalties are >= 0, so this tile cannot win; once whole buckets are below the best, no later
      // tile can either.
      if (heat_bucket(hm) < best_bucket) break;
      continue;
    }
    const float* lo = sum.tlo + int64_t(t) * L;
    const float* hi = sum.thi + int64_t(t) * L;
    if (!(lo[0] <= hi[0])) continue;  // no finite tag in this tile: every pixel's score is NaN
    // Upper bound of the score in the tile: its hottest heat minus the penalty at the tag nearest to p.
    for (int l = 0; l < Ln; ++l) nearest[l] = p[l] < lo[l] ? lo[l] : (p[l] > hi[l] ? hi[l] : p[l]);
    const int ty = t / g.TX, tx = t % g.TX;
    const int y0 = ty * g.T, x0 = tx * g.T;
    if (!refine_better(refine_score(hm, refine_penalty_t<V, LC>(nearest, p, Ln)), y0 * W + x0, best, best_idx))
      continue;  // (NaN bounds skip too)
    const int y1 = y0 + g.T < H ? y0 + g.T : H, x1 = x0 + g.T < W ? x0 + g.T : W;
    scan_box<V, LC, ABS>(heat, tags, W, L, p, y0, y1, x0, x1, best, best_idx, best_heat);
    pixels += int64_t(y1 - y0) * (x1 - x0);
    best_bucket = heat_bucket(best);
  }
  if (best_idx == std::numeric_limits<int32_t>::max() || !(best - best == 0.0f)) return RefineHit{-1, 0.0f, pixels};
  return RefineHit{best_idx, best_heat, pixels};
}

template <Variant V, int LC, bool ABS>
RefineHit brute_impl(const float* heat, const float* tags, int H, int W, int L, const float* p) {
  float best = -std::numeric_limits<float>::infinity();
  int32_t best_idx = std::numeric_limits<int32_t>::max();
  float best_heat = 0.0f;
  scan_box<V, LC, ABS>(heat, tags, W, L, p, 0, H, 0, W, best, best_idx, best_heat);
  if (best_idx == std::numeric_limits<int32_t>::max() || !(best - best == 0.0f)) return RefineHit{-1, 0.0f, int64_t(H) * W};
  return RefineHit{best_idx, best_heat, int64_t(H) * W};
}

// Run F<V, LC, ABS>(args...) for the runtime variant, L and heat_abs.
#define HRD_DISPATCH(FN, variant, L, heat_abs, ...)                                                   \
  do {                                                                                             \
    const bool l1_ = (L) == 1;                                                                     \
    switch (variant) {                                                                             \
      case Variant::HigherHRNet:                                                                   \
        if (heat_abs) return l1_ ? FN<Variant::HigherHRNet, 1, true>(__VA_ARGS__)                 \
                                 : FN<Variant::HigherHRNet, 0, true>(__VA_ARGS__);                \
        return l1_ ? FN<Variant::HigherHRNet, 1, false>(__VA_ARGS__)                               \
                   : FN<Variant::HigherHRNet, 0, false>(__VA_ARGS__);                              \
      case Variant::MMPose:                                                                        \
        if (heat_abs) return l1_ ? FN<Variant::MMPose, 1, true>(__VA_ARGS__)                      \
                                 : FN<Variant::MMPose, 0, true>(__VA_ARGS__);                     \
        return l1_ ? FN<Variant::MMPose, 1, false>(__VA_ARGS__) : FN<Variant::MMPose, 0, false>(__VA_ARGS__); \
      case Variant::OMZ:                                                                           \
      default:                                                                                     \
        if (heat_abs) return l1_ ? FN<Variant::OMZ, 1, true>(__VA_ARGS__) : FN<Variant::OMZ, 0, true>(__VA_ARGS__); \
        return l1_ ? FN<Variant::OMZ, 1, false>(__VA_ARGS__) : FN<Variant::OMZ, 0, false>(__VA_ARGS__); \
    }                                                                                              \
  } while (0)

}  // namespace

RefineHit refine_search_hw(Variant variant, const float* heat, const float* tags, int H, int W, int L,
                           const float* p, bool heat_abs, TileGrid g, const TileSummary& sum) {
  if (L > 64) return refine_search_brute_hw(variant, heat, tags, H, W, L, p, heat_abs);
  HRD_DISPATCH(search_impl, variant, L, heat_abs, heat, tags, H, W, L, p, g, sum);
}

RefineHit refine_search_brute_hw(Variant variant, const float* heat, const float* tags, int H, int W, int L,
                                 const float* p, bool heat_abs) {
  HRD_DISPATCH(brute_impl, variant, L, heat_abs, heat, tags, H, W, L, p);
}

#undef HRD_DISPATCH

}  // namespace hrd
