#include <cmath>
#include <limits>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "refine/refine.h"
#include "refine/refine_rule.h"

namespace hrd {
namespace {

// Visit pixels [y0,y1) x [x0,x1) in raster order, updating best. Scores of a row segment are computed
// in a batch (vectorised for LC = 1), then only those that reach the best are examined one by one.
template <Variant V, int LC, bool ABS>
inline void scan_box(const float* heat, const float* tags, int W, int L, const float* p, int y0, int y1,
                     int x0, int x1, float& best, int32_t& best_idx, float& best_heat) {
  constexpr int kChunk = 64;
  float sc[kChunk];
  const int Ls = LC > 0 ? LC : L;
  for (int y = y0; y < y1; ++y) {
    for (int xs = x0; xs < x1; xs += kChunk) {
      const int n = x1 - xs < kChunk ? x1 - xs : kChunk;
      const int32_t i0 = y * W + xs;
      const float* hp = heat + i0;
      const float* tp = tags + int64_t(i0) * Ls;
      for (int j = 0; j < n; ++j) {
        const float h = ABS ? fabsf(hp[j]) : hp[j];
        sc[j] = refine_score(h, refine_penalty_t<V, LC>(tp + int64_t(j) * Ls, p, Ls));
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
  }
}

}  // namespace

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Non-finite values map to the neutral element of the reduction (NaN compares false; +-inf excluded
// explicitly), written as selects so the loops vectorise.
inline float finite_or(float v, float neutral) { return (v < kInf && v > -kInf) ? v : neutral; }

// Fine tiles of one tile row [y0, y1): TW is the tile width when known at compile time (0: g.T).
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
// The common case, 4x4 fine tiles and one tag dimension, with SSE2: one vector per tile row.
// Same results as summarise_tile_row (min/max are exact; non-finite values become the neutral element).
template <bool ABS>
void summarise_tile_row_sse_t4_l1(const float* heat, const float* tags, int W, TileGrid g, int ty, int y0, int y1,
                                  const TileSummary& s) {
  const __m128 pinf = _mm_set1_ps(kInf), ninf = _mm_set1_ps(-kInf);
  const __m128 absmask = _mm_castsi128_ps(_mm_set1_epi32(0x7fffffff));
  auto finite_mask = [&](__m128 v) { return _mm_and_ps(_mm_cmplt_ps(v, pinf), _mm_cmpgt_ps(v, ninf)); };
  auto select = [](__m128 m, __m128 a, __m128 b) { return _mm_or_ps(_mm_and_ps(m, a), _mm_andnot_ps(m, b)); };
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
  for (int tx = 0; tx < full; ++tx) {
    __m128 hm = ninf, lo = pinf, hi = ninf;
    for (int y = y0; y < y1; ++y) {
      __m128 h = _mm_loadu_ps(heat + int64_t(y) * W + tx * 4);
      if (ABS) h = _mm_and_ps(h, absmask);
      hm = _mm_max_ps(hm, select(finite_mask(h), h, ninf));
      const __m128 t = _mm_loadu_ps(tags + int64_t(y) * W + tx * 4);
      const __m128 m = finite_mask(t);
      lo = _mm_min_ps(lo, select(m, t, pinf));
      hi = _mm_max_ps(hi, select(m, t, ninf));
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
  // coarse level: reduce F x F fine tiles
  for (int cy = 0; cy < g.CY; ++cy) {
    for (int cx = 0; cx < g.CX; ++cx) {
      const int c = cy * g.CX + cx;
      float hm = -kInf;
      float* lo = s.ctlo + int64_t(c) * L;
      float* hi = s.cthi + int64_t(c) * L;
      for (int l = 0; l < L; ++l) {
        lo[l] = kInf;
        hi[l] = -kInf;
      }
      for (int ty = cy * g.F; ty < (cy + 1) * g.F && ty < g.TY; ++ty) {
        for (int tx = cx * g.F; tx < (cx + 1) * g.F && tx < g.TX; ++tx) {
          const int t = ty * g.TX + tx;
          hm = fmaxf_keep(hm, s.hmax[t]);
          for (int l = 0; l < L; ++l) {
            lo[l] = fminf_keep(lo[l], s.tlo[int64_t(t) * L + l]);
            hi[l] = fmaxf_keep(hi[l], s.thi[int64_t(t) * L + l]);
          }
        }
      }
      s.chmax[c] = hm;
    }
  }
}

}  // namespace

std::size_t tile_summary_floats(TileGrid g, int L) {
  const std::size_t nf = std::size_t(g.TY) * g.TX, nc = std::size_t(g.CY) * g.CX;
  return nf * (1 + 2 * std::size_t(L)) + nc * (1 + 2 * std::size_t(L));
}

TileSummary tile_summary_at(float* base, TileGrid g, int L) {
  const std::size_t nf = std::size_t(g.TY) * g.TX, nc = std::size_t(g.CY) * g.CX;
  TileSummary s;
  s.hmax = base;
  s.tlo = s.hmax + nf;
  s.thi = s.tlo + nf * L;
  s.chmax = s.thi + nf * L;
  s.ctlo = s.chmax + nc;
  s.cthi = s.ctlo + nc * L;
  return s;
}

void tile_summaries_hw(const float* heat, const float* tags, int H, int W, int L, TileGrid g, bool heat_abs,
                       const TileSummary& out) {
  if (heat_abs)
    summaries<true>(heat, tags, H, W, L, g, out);
  else
    summaries<false>(heat, tags, H, W, L, g, out);
}

int hottest_tiles(const TileSummary& s, TileGrid g, int n, int32_t* out) {
  // Keep the n hottest by insertion into a sorted list: n is small and most tiles fail the first compare.
  const float* hmax = s.chmax;
  int cnt = 0;
  for (int t = 0; t < g.CY * g.CX; ++t) {
    const float h = hmax[t];
    if (!(h > -kInf)) continue;
    if (cnt == n) {
      if (!(h > hmax[out[n - 1]])) continue;
      --cnt;
    }
    int j = cnt++;
    while (j > 0 && h > hmax[out[j - 1]]) {
      out[j] = out[j - 1];
      --j;
    }
    out[j] = t;
  }
  return cnt;
}

namespace {

template <Variant V, int LC, bool ABS>
RefineHit search_impl(const float* heat, const float* tags, int H, int W, int L, const float* p, TileGrid g,
                      const TileSummary& sum, const int32_t* hot, int n_hot) {
  constexpr int kMaxBoundL = 64;
  float nearest[kMaxBoundL];
  const int Ln = LC > 0 ? LC : L;
  // Upper bound of the score over a box: its hottest heat minus the penalty at the tag nearest to p.
  auto bound = [&](float hmax, const float* lo, const float* hi) {
    if (!(lo[0] <= hi[0])) return -kInf;  // no finite tag in the box: every pixel's score is NaN
    for (int l = 0; l < Ln; ++l) nearest[l] = p[l] < lo[l] ? lo[l] : (p[l] > hi[l] ? hi[l] : p[l]);
    return refine_score(hmax, refine_penalty_t<V, LC>(nearest, p, Ln));
  };
  float best = -kInf;
  int32_t best_idx = std::numeric_limits<int32_t>::max();
  float best_heat = 0.0f;
  int64_t pixels = 0;
  auto visit_fine = [&](int ty, int tx) {
    const int t = ty * g.TX + tx;
    if (sum.hmax[t] < best) return;  // penalties are >= 0: nothing here beats the best
    const int y0 = ty * g.T, x0 = tx * g.T;
    if (!refine_better(bound(sum.hmax[t], sum.tlo + int64_t(t) * L, sum.thi + int64_t(t) * L), y0 * W + x0, best,
                       best_idx))
      return;  // (NaN bounds skip too)
    const int y1 = y0 + g.T < H ? y0 + g.T : H, x1 = x0 + g.T < W ? x0 + g.T : W;
    scan_box<V, LC, ABS>(heat, tags, W, L, p, y0, y1, x0, x1, best, best_idx, best_heat);
    pixels += int64_t(y1 - y0) * (x1 - x0);
  };
  auto coarse_bound = [&](int c) { return bound(sum.chmax[c], sum.ctlo + int64_t(c) * L, sum.cthi + int64_t(c) * L); };
  auto coarse_first = [&](int c) { return int32_t((c / g.CX) * g.F * g.T * W + (c % g.CX) * g.F * g.T); };
  auto visit_coarse = [&](int c) {
    const int cy = c / g.CX, cx = c % g.CX;
    for (int ty = cy * g.F; ty < (cy + 1) * g.F && ty < g.TY; ++ty)
      for (int tx = cx * g.F; tx < (cx + 1) * g.F && tx < g.TX; ++tx) visit_fine(ty, tx);
  };
  // Seeding: among the hottest coarse tiles, visit those with the best bounds first, so that `best` is
  // high before the full pass. (A tile seen twice changes nothing: a pixel never beats itself.)
  constexpr int kSeed = 4;
  int seed[kSeed];
  float seed_ub[kSeed];
  int nseed = 0;
  for (int i = 0; i < n_hot; ++i) {
    const int c = hot[i];
    const float u = coarse_bound(c);
    if (!(u > -kInf)) continue;
    if (nseed == kSeed) {
      if (!(u > seed_ub[kSeed - 1])) continue;
      --nseed;
    }
    int j = nseed++;
    while (j > 0 && u > seed_ub[j - 1]) {
      seed[j] = seed[j - 1];
      seed_ub[j] = seed_ub[j - 1];
      --j;
    }
    seed[j] = c;
    seed_ub[j] = u;
  }
  for (int i = 0; i < nseed; ++i)
    if (refine_better(seed_ub[i], coarse_first(seed[i]), best, best_idx)) visit_coarse(seed[i]);
  // Full pass over the coarse tiles, then the fine tiles inside the survivors.
  for (int c = 0; c < g.CY * g.CX; ++c) {
    if (sum.chmax[c] < best) continue;
    if (!refine_better(coarse_bound(c), coarse_first(c), best, best_idx)) continue;
    visit_coarse(c);
  }
  // Boxes with a -inf bound hold no pixel with a finite score; if nothing was found, there is none.
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
                           const float* p, bool heat_abs, TileGrid g, const TileSummary& sum, const int32_t* hot,
                           int n_hot) {
  if (L > 64) return refine_search_brute_hw(variant, heat, tags, H, W, L, p, heat_abs);
  HRD_DISPATCH(search_impl, variant, L, heat_abs, heat, tags, H, W, L, p, g, sum, hot, n_hot);
}

RefineHit refine_search_brute_hw(Variant variant, const float* heat, const float* tags, int H, int W, int L,
                                 const float* p, bool heat_abs) {
  HRD_DISPATCH(brute_impl, variant, L, heat_abs, heat, tags, H, W, L, p);
}

#undef HRD_DISPATCH

}  // namespace hrd
