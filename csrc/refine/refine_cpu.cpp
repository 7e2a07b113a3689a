#include <cmath>
#include <limits>

#include "refine/refine.h"
#include "refine/refine_rule.h"

namespace hrd {
namespace {

inline float heat_at(const float* heat, int64_t i, bool heat_abs) {
  const float v = heat[i];
  return heat_abs ? fabsf(v) : v;
}

// Visit pixels [y0,y1) x [x0,x1) in raster order, updating best.
inline void scan_box(Variant variant, const float* heat, const float* tags, int W, int L, const float* p,
                     bool heat_abs, int y0, int y1, int x0, int x1, float& best, int32_t& best_idx,
                     float& best_heat) {
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) {
      const int32_t i = y * W + x;
      const float h = heat_at(heat, i, heat_abs);
      const float s = refine_score(h, refine_penalty(variant, tags + int64_t(i) * L, p, L));
      if (refine_better(s, i, best, best_idx) && h - h == 0.0f) {
        best = s;
        best_idx = i;
        best_heat = h;
      }
    }
  }
}

}  // namespace

void tile_summaries_hw(const float* heat, const float* tags, int H, int W, int L, TileGrid g, bool heat_abs,
                       float* hmax, float* tlo, float* thi) {
  const float inf = std::numeric_limits<float>::infinity();
  for (int t = 0; t < g.TY * g.TX; ++t) {
    hmax[t] = -inf;
    for (int l = 0; l < L; ++l) {
      tlo[int64_t(t) * L + l] = inf;
      thi[int64_t(t) * L + l] = -inf;
    }
  }
  // Branch-free min/max so the compiler vectorises the inner loops. Non-finite values are mapped to the
  // neutral element (NaN compares false, +-inf are excluded explicitly).
  for (int y = 0; y < H; ++y) {
    const int ty = y / g.T;
    const float* hrow = heat + int64_t(y) * W;
    const float* trow = tags + int64_t(y) * W * L;
    for (int tx = 0; tx < g.TX; ++tx) {
      const int t = ty * g.TX + tx;
      const int x0 = tx * g.T, x1 = x0 + g.T < W ? x0 + g.T : W;
      float hm = hmax[t];
      for (int x = x0; x < x1; ++x) {
        const float h0 = hrow[x];
        const float h = heat_abs ? fabsf(h0) : h0;
        const float v = (h < inf && h > -inf) ? h : -inf;
        hm = v > hm ? v : hm;
      }
      hmax[t] = hm;
      float* lo = tlo + int64_t(t) * L;
      float* hi = thi + int64_t(t) * L;
      if (L == 1) {
        float a = lo[0], b = hi[0];
        for (int x = x0; x < x1; ++x) {
          const float v = trow[x];
          const bool fin = v < inf && v > -inf;
          const float vl = fin ? v : inf, vh = fin ? v : -inf;
          a = vl < a ? vl : a;
          b = vh > b ? vh : b;
        }
        lo[0] = a;
        hi[0] = b;
      } else {
        for (int x = x0; x < x1; ++x) {
          const float* tp = trow + int64_t(x) * L;
          for (int l = 0; l < L; ++l) {
            const float v = tp[l];
            const bool fin = v < inf && v > -inf;
            const float vl = fin ? v : inf, vh = fin ? v : -inf;
            lo[l] = vl < lo[l] ? vl : lo[l];
            hi[l] = vh > hi[l] ? vh : hi[l];
          }
        }
      }
    }
  }
}

int hottest_tiles(const float* hmax, int NT, int n, int32_t* out) {
  // Keep the n greatest by insertion into a sorted list: n is small and most tiles fail the first compare.
  int cnt = 0;
  for (int t = 0; t < NT; ++t) {
    const float h = hmax[t];
    if (!(h > -std::numeric_limits<float>::infinity())) continue;
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

RefineHit refine_search_hw(Variant variant, const float* heat, const float* tags, int H, int W, int L,
                           const float* p, bool heat_abs, TileGrid g, const float* hmax, const float* tlo,
                           const float* thi, const int32_t* hot, int n_hot) {
  const int NT = g.TY * g.TX;
  const float inf = std::numeric_limits<float>::infinity();
  // Upper bound of the score in each tile: tile max heat minus the penalty at the tag nearest to p.
  constexpr int kMaxBoundL = 64;
  if (L > kMaxBoundL) return refine_search_brute_hw(variant, heat, tags, H, W, L, p, heat_abs);
  float nearest[kMaxBoundL];
  auto first_index = [&](int t) { return int32_t((t / g.TX) * g.T * W + (t % g.TX) * g.T); };
  auto bound = [&](int t) {
    const float* lo = tlo + int64_t(t) * L;
    const float* hi = thi + int64_t(t) * L;
    if (!(lo[0] <= hi[0])) return -inf;  // no finite tag in this tile: every pixel's score is NaN
    for (int l = 0; l < L; ++l) nearest[l] = p[l] < lo[l] ? lo[l] : (p[l] > hi[l] ? hi[l] : p[l]);
    return refine_score(hmax[t], refine_penalty(variant, nearest, p, L));
  };
  float best = -inf;
  int32_t best_idx = std::numeric_limits<int32_t>::max();
  float best_heat = 0.0f;
  int64_t pixels = 0;
  auto scan_tile = [&](int t) {
    const int y0 = (t / g.TX) * g.T, x0 = (t % g.TX) * g.T;
    const int y1 = y0 + g.T < H ? y0 + g.T : H, x1 = x0 + g.T < W ? x0 + g.T : W;
    scan_box(variant, heat, tags, W, L, p, heat_abs, y0, y1, x0, x1, best, best_idx, best_heat);
    pixels += int64_t(y1 - y0) * (x1 - x0);
  };
  // Seeding: among the tiles with the hottest maxima (precomputed per joint), scan those with the best
  // bounds first, so that `best` is high before the full pass.
  constexpr int kSeed = 4;
  int seed[kSeed];
  float seed_ub[kSeed];
  int nseed = 0;
  for (int i = 0; i < n_hot; ++i) {
    const int t = hot[i];
    const float u = bound(t);
    if (!(u > -inf)) continue;
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
    seed[j] = t;
    seed_ub[j] = u;
  }
  for (int i = 0; i < nseed; ++i)
    if (refine_better(seed_ub[i], first_index(seed[i]), best, best_idx)) scan_tile(seed[i]);
  // Full pass. Penalties are >= 0, so a tile whose hottest pixel is below the best cannot win: one compare
  // decides most tiles; the tag bound decides the rest. (A re-scanned seed tile changes nothing: a pixel
  // never beats itself.)
  for (int t = 0; t < NT; ++t) {
    if (hmax[t] < best) continue;
    if (!refine_better(bound(t), first_index(t), best, best_idx)) continue;  // NaN bounds skip too
    scan_tile(t);
  }
  // Every tile with a -inf bound (no finite tag, or no finite heat) was never scanned; if nothing else
  // was found either, no pixel has a finite score and the search reports none.
  if (best_idx == std::numeric_limits<int32_t>::max() || !(best - best == 0.0f)) return RefineHit{-1, 0.0f, pixels};
  return RefineHit{best_idx, best_heat, pixels};
}

RefineHit refine_search_brute_hw(Variant variant, const float* heat, const float* tags, int H, int W, int L,
                                 const float* p, bool heat_abs) {
  float best = -std::numeric_limits<float>::infinity();
  int32_t best_idx = std::numeric_limits<int32_t>::max();
  float best_heat = 0.0f;
  scan_box(variant, heat, tags, W, L, p, heat_abs, 0, H, 0, W, best, best_idx, best_heat);
  if (best_idx == std::numeric_limits<int32_t>::max() || !(best - best == 0.0f)) return RefineHit{-1, 0.0f};
  return RefineHit{best_idx, best_heat};
}

}  // namespace hrd
