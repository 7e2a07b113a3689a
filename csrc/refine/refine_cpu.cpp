#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "nms/nms.h"
#include "refine/refine.h"
#include "refine/refine_rule.h"

namespace hrd {
namespace {

// Score pixels [x, x+n) of one row into sc, then examine only those that reach the best. NC > 0 fixes n at
// compile time (the 4-wide tiles of the pruned search), which lets the first loop become straight SIMD code.
#if defined(__SSE2__)
inline __m128 select4(__m128 mask, __m128 a, __m128 b) {
  return _mm_or_ps(_mm_and_ps(mask, a), _mm_andnot_ps(mask, b));
}

// refine_score(h, refine_penalty_t<V, 1>(t, p)) for four pixels at once, L = 1: the same IEEE operations in
// the same order, so the scores are bit-identical to the scalar rule (tests compare the pruned search, which
// uses this, with the scalar brute-force scan). HigherHRNet and mmpose: d = t - p; 0 + d*d == d*d; sqrt;
// round_half_even by adding and subtracting 2^23 with the sign restored; x100 for mmpose. OMZ:
// trunc_int32_f(|t - p| + 0.5), the conversion exact below 2^31, saturated above, NaN and inf kept.
// The HigherHRNet/mmpose penalty from the tag distance v = sqrt(sum of squares), four at once.
template <Variant V>
inline __m128 penalty4_from_norm(__m128 v) {
  const __m128 sign = _mm_set1_ps(-0.0f), two23 = _mm_set1_ps(8388608.0f);
  const __m128 a = _mm_andnot_ps(sign, v);
  const __m128 r = _mm_sub_ps(_mm_add_ps(a, two23), two23);
  const __m128 rs = _mm_or_ps(_mm_andnot_ps(sign, r), _mm_and_ps(sign, v));  // copysign(r, v)
  __m128 pen = select4(_mm_cmplt_ps(a, two23), rs, v);
  if (V == Variant::MMPose) pen = _mm_mul_ps(pen, _mm_set1_ps(100.0f));
  return pen;
}

template <Variant V>
inline __m128 score4_l1(__m128 h, __m128 t, __m128 p) {
  const __m128 sign = _mm_set1_ps(-0.0f);
  const __m128 d = _mm_sub_ps(t, p);
  if (V == Variant::OMZ) {
    const __m128 a = _mm_add_ps(_mm_andnot_ps(sign, d), _mm_set1_ps(0.5f));
    const __m128 two31 = _mm_set1_ps(2147483648.0f);
    const __m128 tr = _mm_cvtepi32_ps(_mm_cvttps_epi32(a));
    const __m128 finite = _mm_cmpeq_ps(_mm_sub_ps(a, a), _mm_setzero_ps());
    const __m128 pen = select4(_mm_cmplt_ps(a, two31), tr, select4(finite, two31, a));
    return _mm_sub_ps(h, pen);
  }
  return _mm_sub_ps(h, penalty4_from_norm<V>(_mm_sqrt_ps(_mm_mul_ps(d, d))));
}

// The same for L = 2 (t0/p0: first tag dimension of four pixels, t1/p1: second): HigherHRNet's pairwise sum
// of two squares is 0 + d0*d0 + d1*d1 (adding 0 to a square changes nothing), mmpose's sequential one
// d0*d0 + d1*d1; OMZ reads the first dimension only.
template <Variant V>
inline __m128 score4_l2(__m128 h, __m128 t0, __m128 t1, __m128 p0, __m128 p1) {
  if (V == Variant::OMZ) return score4_l1<V>(h, t0, p0);
  const __m128 d0 = _mm_sub_ps(t0, p0), d1 = _mm_sub_ps(t1, p1);
  return _mm_sub_ps(h, penalty4_from_norm<V>(_mm_sqrt_ps(_mm_add_ps(_mm_mul_ps(d0, d0), _mm_mul_ps(d1, d1)))));
}

// Four interleaved (dim 0, dim 1) pairs at q into their dimension-0 and dimension-1 vectors.
inline void load_pairs4(const float* q, __m128& v0, __m128& v1) {
  const __m128 a = _mm_loadu_ps(q), b = _mm_loadu_ps(q + 4);
  v0 = _mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  v1 = _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
}

template <bool ABS>
inline __m128 load_heat4(const float* hp) {
  const __m128 h = _mm_loadu_ps(hp);
  return ABS ? _mm_andnot_ps(_mm_set1_ps(-0.0f), h) : h;
}

inline float hmax4(__m128 v) {
  v = _mm_max_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = _mm_max_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm_cvtss_f32(v);
}
inline float hmin4(__m128 v) {
  v = _mm_min_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1)));
  v = _mm_min_ps(v, _mm_shuffle_ps(v, v, _MM_SHUFFLE(1, 0, 3, 2)));
  return _mm_cvtss_f32(v);
}

// The scores of four pixels into sc; returns whether any of them reaches `best` (the only ones the caller
// needs to look at).
template <Variant V, bool ABS>
inline bool scores4_l1(const float* hp, const float* tp, float p, float best, float* sc) {
  const __m128 score = score4_l1<V>(load_heat4<ABS>(hp), _mm_loadu_ps(tp), _mm_set1_ps(p));
  _mm_storeu_ps(sc, score);
  return _mm_movemask_ps(_mm_cmpge_ps(score, _mm_set1_ps(best))) != 0;  // NaN compares false, as below
}

// One full 4x4 tile, L = LC (1 or 2: tp then holds (dim 0, dim 1) pairs), hp/tp at its first pixel, flat
// index i0. The pixels that take part are those with a finite heat and a score that is not NaN (as in
// scan_row). Only the tile's greatest such score can change the best, and of the pixels holding it only
// the first in raster order (flat indices grow with the lane number): so the maximum is found first and one
// pixel is compared with the best, which ends as it would after visiting the 16 pixels in raster order.
template <Variant V, bool ABS, int LC = 1>
inline void scan_tile4(const float* hp, const float* tp, int W, const float* p, int32_t i0, float& best,
                       int32_t& best_idx, float& best_heat) {
  const __m128 pv = _mm_set1_ps(p[0]), pv1 = _mm_set1_ps(p[LC - 1]), bv = _mm_set1_ps(best);
  __m128 h[4], sc[4];
  unsigned ge = 0;
  for (int r = 0; r < 4; ++r) {
    h[r] = load_heat4<ABS>(hp + r * W);
    if (LC == 1) {
      sc[r] = score4_l1<V>(h[r], _mm_loadu_ps(tp + r * W), pv);
    } else {
      __m128 t0, t1;
      load_pairs4(tp + int64_t(r) * W * 2, t0, t1);
      sc[r] = score4_l2<V>(h[r], t0, t1, pv, pv1);
    }
    ge |= unsigned(_mm_movemask_ps(_mm_cmpge_ps(sc[r], bv)));  // NaN compares false
  }
  if (!ge) return;  // the common case once a good best is known
  const __m128 ninf = _mm_set1_ps(-INFINITY), zero = _mm_setzero_ps();
  __m128 ok[4];
  __m128 mx = ninf;
  for (int r = 0; r < 4; ++r) {
    ok[r] = _mm_and_ps(_mm_cmpeq_ps(_mm_sub_ps(h[r], h[r]), zero), _mm_cmpord_ps(sc[r], sc[r]));
    mx = _mm_max_ps(mx, select4(ok[r], sc[r], ninf));
  }
  const float top = hmax4(mx);
  if (!(top >= best)) return;
  const __m128 tv = _mm_set1_ps(top);
  unsigned m = 0;
  for (int r = 0; r < 4; ++r) m |= unsigned(_mm_movemask_ps(_mm_and_ps(ok[r], _mm_cmpeq_ps(sc[r], tv)))) << (4 * r);
  if (!m) return;  // no pixel takes part
  const int b = __builtin_ctz(m), o = (b >> 2) * W + (b & 3);
  float v[4];
  _mm_storeu_ps(v, sc[b >> 2]);
  if (refine_better(v[b & 3], i0 + o, best, best_idx)) {
    best = v[b & 3];
    best_idx = i0 + o;
    best_heat = ABS ? fabsf(hp[o]) : hp[o];
  }
}
#endif

template <Variant V, int LC, bool ABS, int NC>
inline void scan_row(const float* heat, const float* tags, int Ls, const float* p, int32_t i0, int n_rt,
                     float* sc, float& best, int32_t& best_idx, float& best_heat) {
  const int n = NC > 0 ? NC : n_rt;
  const float* hp = heat + i0;
  const float* tp = tags + int64_t(i0) * Ls;
#if defined(__SSE2__)
  if (NC == 4 && LC == 1) {
    if (!scores4_l1<V, ABS>(hp, tp, p[0], best, sc)) return;
  } else if (NC == 4 && LC == 2) {
    __m128 t0, t1;
    load_pairs4(tp, t0, t1);
    const __m128 score = score4_l2<V>(load_heat4<ABS>(hp), t0, t1, _mm_set1_ps(p[0]), _mm_set1_ps(p[1]));
    _mm_storeu_ps(sc, score);
    if (!_mm_movemask_ps(_mm_cmpge_ps(score, _mm_set1_ps(best)))) return;  // NaN compares false, as below
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

// ---- tile summaries ------------------------------------------------------------------------------------

// Hottest finite heat of each tile of tile row ty, rows [y0, y1).
template <bool ABS>
void tile_row_hmax(const float* heat, int W, TileGrid g, int ty, int y0, int y1, float* hmax) {
  for (int tx = 0; tx < g.TX; ++tx) {
    const int x0 = tx * g.T, n = x0 + g.T < W ? g.T : W - x0;
    float hm = -kInf;
    for (int y = y0; y < y1; ++y) {
      const float* hr = heat + int64_t(y) * W + x0;
      for (int j = 0; j < n; ++j) hm = fmaxf_keep(hm, finite_or(ABS ? fabsf(hr[j]) : hr[j], -kInf));
    }
    hmax[ty * g.TX + tx] = hm;
  }
}


// tile_tag_range's scalar loop: pixel by pixel, each pixel's L values (LC > 0: L == LC, known at compile time).
template <int LC>
inline void tag_range_rows(const float* tags, int W, int L, int y0, int y1, int x0, int x1, float* lo, float* hi) {
  const int Ls = LC > 0 ? LC : L;
  for (int l = 0; l < Ls; ++l) {
    lo[l] = kInf;
    hi[l] = -kInf;
  }
  for (int y = y0; y < y1; ++y) {
    const float* tp = tags + (int64_t(y) * W + x0) * Ls;
    for (int x = x0; x < x1; ++x, tp += Ls)
      for (int l = 0; l < Ls; ++l) {
        lo[l] = fminf_keep(lo[l], finite_or(tp[l], kInf));
        hi[l] = fmaxf_keep(hi[l], finite_or(tp[l], -kInf));
      }
  }
}

// Smallest and largest finite tag value per dimension of the pixels [y0, y1) x [x0, x1) (lo > hi if none).
__attribute__((always_inline)) inline void tile_tag_range(const float* tags, int W, int L, int y0, int y1, int x0,
                                                          int x1, float* lo, float* hi) {
#if defined(__SSE2__)
  if (L == 1 && x1 - x0 == 4) {  // as tile_heat_t4_hw: NaN ignored by the operand order, +-inf kept
    const float* tp = tags + int64_t(y0) * W + x0;
    __m128 a = _mm_set1_ps(kInf), b = _mm_set1_ps(-kInf);
    if (y1 - y0 == 4) {
      const __m128 t0 = _mm_loadu_ps(tp), t1 = _mm_loadu_ps(tp + W), t2 = _mm_loadu_ps(tp + 2 * W),
                   t3 = _mm_loadu_ps(tp + 3 * W);
      a = _mm_min_ps(t3, _mm_min_ps(t2, _mm_min_ps(t1, _mm_min_ps(t0, a))));
      b = _mm_max_ps(t3, _mm_max_ps(t2, _mm_max_ps(t1, _mm_max_ps(t0, b))));
    } else {
      for (int y = y0; y < y1; ++y, tp += W) {
        const __m128 t = _mm_loadu_ps(tp);
        a = _mm_min_ps(t, a);
        b = _mm_max_ps(t, b);
      }
    }
    lo[0] = hmin4(a);
    hi[0] = hmax4(b);
    return;
  }
  if (L == 2 && x1 - x0 == 4) {  // as tag_range_rows<2>: finite values only; lanes hold (dim 0, dim 1) pairs
    const __m128 pinf = _mm_set1_ps(kInf), ninf = _mm_set1_ps(-kInf), zero = _mm_setzero_ps();
    __m128 a = pinf, b = ninf;
    const float* tp = tags + (int64_t(y0) * W + x0) * 2;
    for (int y = y0; y < y1; ++y, tp += int64_t(W) * 2) {
      for (int h = 0; h < 8; h += 4) {
        const __m128 t = _mm_loadu_ps(tp + h);
        const __m128 fin = _mm_cmpeq_ps(_mm_sub_ps(t, t), zero);
        a = _mm_min_ps(a, select4(fin, t, pinf));
        b = _mm_max_ps(b, select4(fin, t, ninf));
      }
    }
    a = _mm_min_ps(a, _mm_movehl_ps(a, a));  // lane 0: dimension 0, lane 1: dimension 1
    b = _mm_max_ps(b, _mm_movehl_ps(b, b));
    lo[0] = _mm_cvtss_f32(a);
    hi[0] = _mm_cvtss_f32(b);
    lo[1] = _mm_cvtss_f32(_mm_shuffle_ps(a, a, _MM_SHUFFLE(1, 1, 1, 1)));
    hi[1] = _mm_cvtss_f32(_mm_shuffle_ps(b, b, _MM_SHUFFLE(1, 1, 1, 1)));
    return;
  }
#endif
  switch (L) {  // the tag length fixed at compile time for the common small ones
    case 1: tag_range_rows<1>(tags, W, 1, y0, y1, x0, x1, lo, hi); break;
    case 2: tag_range_rows<2>(tags, W, 2, y0, y1, x0, x1, lo, hi); break;
    case 3: tag_range_rows<3>(tags, W, 3, y0, y1, x0, x1, lo, hi); break;
    case 4: tag_range_rows<4>(tags, W, 4, y0, y1, x0, x1, lo, hi); break;
    default: tag_range_rows<0>(tags, W, L, y0, y1, x0, x1, lo, hi); break;
  }
}

// Heat bucket: the top 14 bits of the order-preserving integer key of a float (sign, exponent, 5 mantissa
// bits: 32 buckets per octave, fine enough that whole buckets overshoot the hot-tile target little and a
// search stops close to its best). Larger float -> larger or equal bucket.
constexpr int kBucketShift = 18;
inline uint32_t heat_bucket(float f) { return ordered_bits(f) >> kBucketShift; }
constexpr int kBuckets = 1 << (32 - kBucketShift);
// The hot tiles: whole buckets, hottest first, until at least hot_target(NT) tiles are in. Speed only: a
// search whose best score stays below the hot tiles' buckets reads the cold tiles itself, which costs about
// as much as summarising them (crowded 256x256 maps: a quarter of the tiles leaves 0.5% of the searches
// cold; 512x512: an eighth, 0.2%).
inline int hot_target(int NT) {
  const int a = NT / 4, b = 1024 + NT / 16;
  return a < b ? (a > 64 ? a : 64) : b;
}
constexpr int kBlock = 16;  // hot tiles bounded per step of a search (a multiple of 4; 32 was no faster, 8 slower)
constexpr int kPad = kBlock - 1;  // order arrays are padded for the bound loop's whole blocks
constexpr int32_t kPartial = int32_t(0x80000000u);  // ooff flag: the tile is cut by the map border

// Words of the summary buffer, in this order.
struct SummaryLayout {
  std::size_t hmax, order, ooff, ohmax, olo, ohi, info, rbkt, hot_t, hot_off, count, clo, chi, total;
};
inline SummaryLayout summary_layout(TileGrid g, int L) {
  const std::size_t nt = std::size_t(g.TY) * g.TX, np = nt + kPad;
  SummaryLayout s;
  s.hmax = 0;
  s.order = s.hmax + nt;
  s.ooff = s.order + np;
  s.ohmax = s.ooff + np;
  s.olo = s.ohmax + np;
  s.ohi = s.olo + np * L;
  s.info = s.ohi + np * L;
  s.rbkt = s.info + 4;
  s.hot_t = s.rbkt + nt;
  s.hot_off = s.hot_t + nt + kPad;
  s.count = s.hot_off + nt + kPad;
  // The cold tiles' tag ranges, for searches other than the 4x4, L = 1 one (which reads them itself).
  const std::size_t nc = (g.T == 4 && L == 1) ? 0 : nt * L;
  s.clo = s.count + kBuckets;
  s.chi = s.clo + nc;
  s.total = s.chi + nc;
  return s;
}

constexpr int kSample = 4;  // the hot/cold cut is chosen on every kSample-th tile

// The hot tiles by decreasing heat bucket, ascending tile index within a bucket (a counting sort over the
// buckets that occur), with their pixel offset and hmax; info = (n_hot, cut, 0, 0): a tile is hot iff its
// bucket >= cut. Their tag ranges are left to the searches (fill_hot_ranges).
inline void order_hot_tiles(int H, int W, TileGrid g, const TileSummary& s) {
  const int NT = g.TY * g.TX;
  int32_t* rb = s.rbkt;   // each tile's bucket, reversed: 0 = hottest
  int32_t* cnt = s.count;  // bucket counts, then first positions
  s.info[0] = s.info[1] = s.info[2] = s.info[3] = 0;
  if (NT <= 0) return;
  float hot = -kInf, cold = kInf;  // hmax is never NaN
  int t = 0;
#if defined(__SSE2__)
  {
    __m128 vhot = _mm_set1_ps(hot), vcold = _mm_set1_ps(cold);
    const __m128i sign = _mm_set1_epi32(int(0x80000000u)), top = _mm_set1_epi32(kBuckets - 1);
    for (; t + 4 <= NT; t += 4) {
      const __m128 h = _mm_loadu_ps(s.hmax + t);
      vhot = _mm_max_ps(vhot, h);
      vcold = _mm_min_ps(vcold, h);
      // kBuckets - 1 - heat_bucket(h): ordered_bits (-0 as +0) as in numeric.h, top bits
      const __m128i u = _mm_castps_si128(_mm_andnot_ps(_mm_cmpeq_ps(h, _mm_setzero_ps()), h));
      const __m128i key = _mm_xor_si128(u, _mm_or_si128(_mm_srai_epi32(u, 31), sign));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(rb + t), _mm_sub_epi32(top, _mm_srli_epi32(key, kBucketShift)));
    }
    hot = hmax4(vhot);
    cold = hmin4(vcold);
  }
#endif
  for (; t < NT; ++t) {
    rb[t] = kBuckets - 1 - int(heat_bucket(s.hmax[t]));
    hot = fmaxf_keep(hot, s.hmax[t]);
    cold = fminf_keep(cold, s.hmax[t]);
  }
  const int lo = kBuckets - 1 - int(heat_bucket(hot)), hi = kBuckets - 1 - int(heat_bucket(cold));
  // The cut, from every kSample-th tile: whole buckets, hottest first, until enough tiles are in.
  std::memset(cnt + lo, 0, sizeof(int32_t) * size_t(hi - lo + 1));
  for (t = 0; t < NT; t += kSample) ++cnt[rb[t]];
  const int target = hot_target(NT);
  int cut_rb = lo;
  for (int b = lo, n = 0; b <= hi; ++b) {
    cut_rb = b;
    n += cnt[b] * kSample;
    if (n >= target) break;
  }
  // The hot tiles (index and first pixel, flagged when the border cuts them) in raster order, compacted
  // without branches: a branch per tile mispredicts often and costs more than these instructions.
  int n_hot = 0;
  auto keep = [&](int tt, int32_t off) {
    s.hot_t[n_hot] = tt;
    s.hot_off[n_hot] = off;
    n_hot += int(unsigned(cut_rb - rb[tt]) >> 31) ^ 1;  // rb <= cut_rb, as arithmetic
  };
#if defined(__SSE2__)
  // Four tiles at a time (not a row's last, which may be cut by the border): all four lanes stored, the hot
  // ones first (lanes[mask]), and the count advanced by how many are hot; later stores overwrite the rest
  // (the arrays have kPad spare words).
  alignas(16) int32_t lanes[16][4], lane_off[16][4];
  static const int8_t kPop[16] = {0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4};
  for (int m = 0; m < 16; ++m)
    for (int j = 0, q = 0; j < 4; ++j) {
      lanes[m][j] = lane_off[m][j] = 0;
      if (m & (1 << j)) {
        lanes[m][q] = j;
        lane_off[m][q++] = j * g.T;
      }
    }
  const __m128i cut_v = _mm_set1_epi32(cut_rb);
#endif
  for (int ty = 0, tt = 0; ty < g.TY; ++ty) {
    const int y0 = ty * g.T;
    const int32_t flag = y0 + g.T > H ? kPartial : 0, last_flag = (g.TX * g.T > W ? kPartial : 0) | flag;
    int32_t off = y0 * W;
    int tx = 0;
#if defined(__SSE2__)
    const __m128i flag_v = _mm_set1_epi32(flag);
    for (; tx + 4 < g.TX; tx += 4, tt += 4, off += 4 * g.T) {
      const __m128i r = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rb + tt));
      const int m = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(r, cut_v))) ^ 15;  // rb <= cut_rb
      const __m128i li = _mm_load_si128(reinterpret_cast<const __m128i*>(lanes[m]));
      const __m128i lo = _mm_load_si128(reinterpret_cast<const __m128i*>(lane_off[m]));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(s.hot_t + n_hot), _mm_add_epi32(li, _mm_set1_epi32(tt)));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(s.hot_off + n_hot),
                       _mm_or_si128(_mm_add_epi32(lo, _mm_set1_epi32(off)), flag_v));
      n_hot += kPop[m];
    }
#endif
    for (; tx + 1 < g.TX; ++tx, ++tt, off += g.T) keep(tt, off | flag);
    keep(tt++, off | last_flag);
  }
  // Counting sort of the hot tiles by bucket (stable: raster order within a bucket).
  std::memset(cnt + lo, 0, sizeof(int32_t) * size_t(cut_rb - lo + 1));
  for (int k = 0; k < n_hot; ++k) ++cnt[rb[s.hot_t[k]]];
  for (int b = lo, pos = 0; b <= cut_rb; ++b) {  // counts -> first positions
    const int c = cnt[b];
    cnt[b] = pos;
    pos += c;
  }
  for (int k = 0; k < n_hot; ++k) {
    const int i = cnt[rb[s.hot_t[k]]]++;
    s.order[i] = s.hot_t[k];
    s.ooff[i] = s.hot_off[k];
  }
  for (int i = 0; i < n_hot; ++i) s.ohmax[i] = s.hmax[s.order[i]];
  s.info[0] = n_hot;
  s.info[1] = n_hot == NT ? 0 : kBuckets - 1 - cut_rb;  // 0: no cold tile
}

// Tag ranges of the hot tiles are computed on demand, in their order: the searches walk the hot tiles
// hottest first and most stop early, so the ranges of the tail are often never needed (benchmark scenes,
// 256x256: 7% of the hot tiles' ranges read with 5 people, 60% with 30; 512x512, 30 people: 44%).
// info[3] = how many of them (a prefix of the order) are filled; fill_hot_ranges extends the prefix to at
// least `need` (rounded up, kFillStep at a time, at most n_hot). Like clo/chi, only one search of a summary
// may run at a time.
constexpr int kFillStep = 32;
void fill_hot_ranges(const float* tags, int H, int W, int L, TileGrid g, const TileSummary& s, int need) {
  const int n_hot = s.info[0];
  int i = s.info[3];
  int to = need > i + kFillStep ? need : i + kFillStep;
  to = (to + 3) & ~3;
  if (to > n_hot) to = n_hot;
  while (i < to) {
#if defined(__SSE2__)
    // Four full tiles at a time: per tile a vertical reduction, then transposes for the horizontal ones
    // (NaN ignored by the operand order, +-inf kept, as in tile_heat_t4_hw).
    const int32_t* off = s.ooff + i;
    if (g.T == 4 && L == 1 && i + 4 <= n_hot && !((off[0] | off[1] | off[2] | off[3]) & kPartial)) {
      const __m128 pinf = _mm_set1_ps(kInf), ninf = _mm_set1_ps(-kInf);
      __m128 a[4], b[4];
      for (int q = 0; q < 4; ++q) {
        const float* tp = tags + off[q];
        const __m128 t0 = _mm_loadu_ps(tp), t1 = _mm_loadu_ps(tp + W), t2 = _mm_loadu_ps(tp + 2 * W),
                     t3 = _mm_loadu_ps(tp + 3 * W);
        a[q] = _mm_min_ps(t3, _mm_min_ps(t2, _mm_min_ps(t1, _mm_min_ps(t0, pinf))));
        b[q] = _mm_max_ps(t3, _mm_max_ps(t2, _mm_max_ps(t1, _mm_max_ps(t0, ninf))));
      }
      _MM_TRANSPOSE4_PS(a[0], a[1], a[2], a[3]);
      _MM_TRANSPOSE4_PS(b[0], b[1], b[2], b[3]);
      _mm_storeu_ps(s.olo + i, _mm_min_ps(_mm_min_ps(a[0], a[1]), _mm_min_ps(a[2], a[3])));
      _mm_storeu_ps(s.ohi + i, _mm_max_ps(_mm_max_ps(b[0], b[1]), _mm_max_ps(b[2], b[3])));
      i += 4;
      continue;
    }
#endif
    const int t = s.order[i], y0 = (t / g.TX) * g.T, x0 = (t % g.TX) * g.T;
    tile_tag_range(tags, W, L, y0, y0 + g.T < H ? y0 + g.T : H, x0, x0 + g.T < W ? x0 + g.T : W,
                   s.olo + int64_t(i) * L, s.ohi + int64_t(i) * L);
    ++i;
  }
  s.info[3] = i;
}

template <bool ABS>
void summaries(const float* heat, int H, int W, int L, TileGrid g, bool hmax_ready,
               const TileSummary& s) {
  if (g.T == 4) {
    if (!hmax_ready) tile_heat_t4_hw(heat, H, W, ABS, s.hmax);
  } else {
    for (int ty = 0; ty < g.TY; ++ty)
      tile_row_hmax<ABS>(heat, W, g, ty, ty * g.T, ty * g.T + g.T < H ? ty * g.T + g.T : H, s.hmax);
  }
  order_hot_tiles(H, W, g, s);
  const int n_hot = s.info[0];
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int i = n_hot; i < n_hot + kPad; ++i) {  // padding: NaN bounds are never scanned
    s.order[i] = 0;
    s.ooff[i] = kPartial;
    s.ohmax[i] = nan;
    for (int l = 0; l < L; ++l) s.olo[int64_t(i) * L + l] = s.ohi[int64_t(i) * L + l] = nan;
  }
}

}  // namespace

std::size_t tile_summary_words(TileGrid g, int L) { return summary_layout(g, L).total; }

TileSummary tile_summary_at(float* base, TileGrid g, int L) {
  static_assert(sizeof(float) == sizeof(int32_t), "4-byte words");
  const SummaryLayout o = summary_layout(g, L);
  int32_t* ibase = reinterpret_cast<int32_t*>(base);
  TileSummary s;
  s.hmax = base + o.hmax;
  s.order = ibase + o.order;
  s.ooff = ibase + o.ooff;
  s.ohmax = base + o.ohmax;
  s.olo = base + o.olo;
  s.ohi = base + o.ohi;
  s.info = ibase + o.info;
  s.rbkt = ibase + o.rbkt;
  s.hot_t = ibase + o.hot_t;
  s.hot_off = ibase + o.hot_off;
  s.count = ibase + o.count;
  s.clo = o.chi > o.clo ? base + o.clo : nullptr;
  s.chi = o.chi > o.clo ? base + o.chi : nullptr;
  return s;
}

void tile_summaries_hw(const float* heat, int H, int W, int L, TileGrid g, bool heat_abs, const TileSummary& out,
                       bool hmax_ready) {
  if (heat_abs)
    summaries<true>(heat, H, W, L, g, hmax_ready, out);
  else
    summaries<false>(heat, H, W, L, g, hmax_ready, out);
}

namespace {

#if defined(__SSE2__)
// Of tiles t..t+3: those that are cold (reversed heat bucket above cut_rb, in lim) and whose hottest heat
// reaches the best (b), as a mask. h: their hmax.
inline __m128 cold_reaching4(const TileSummary& sum, int t, __m128 h, __m128 b, __m128i lim) {
  const __m128i rb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(sum.rbkt + t));
  return _mm_and_ps(_mm_cmpge_ps(h, b), _mm_castsi128_ps(_mm_cmpgt_epi32(rb, lim)));
}
#endif

#if defined(__SSE2__)
// The cold tiles of a search whose best stays below the hot buckets (4x4 tiles, L = 1). Such a search meets
// many tiles, so it goes best first: the bounds of all cold tiles whose heat reaches the best (their tag
// ranges read here, four tiles at a time), the tile with the greatest bound scanned first, then, in raster
// order, every other one whose bound still reaches the best. scan(t) is the search's (it updates best and
// best_idx); the bounds are the same operations as its visit.
template <Variant V, typename Scan>
void cold_pass_t4_l1(const float* tags, int H, int W, float p, TileGrid g, const TileSummary& sum,
                     const Scan& scan, const float& best, const int32_t& best_idx) {
  const int NT = g.TY * g.TX, cut_rb = kBuckets - 1 - sum.info[1];  // cold: rbkt > cut_rb
  thread_local std::vector<float> bounds;
  if (bounds.size() < size_t(NT)) bounds.resize(size_t(NT));
  float* cb = bounds.data();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const __m128 pv = _mm_set1_ps(p), pinf = _mm_set1_ps(kInf), ninf = _mm_set1_ps(-kInf);
  const __m128 vnan = _mm_set1_ps(nan);
  const __m128i lim = _mm_set1_epi32(cut_rb);
  const __m128 b0 = _mm_set1_ps(best);
  float top = best;
  int top_t = -1;
  auto keep_top = [&](int t, float b) {
    if (b > top) {
      top = b;
      top_t = t;
    }
  };
  const int full_tx = W / 4;
  for (int ty = 0; ty < g.TY; ++ty) {
    const int y0 = ty * 4;
    int tx = 0;
    if (y0 + 4 <= H) {
      for (; tx + 4 <= full_tx; tx += 4) {
        const int t = ty * g.TX + tx;
        const __m128 h = _mm_loadu_ps(sum.hmax + t);
        const __m128 cand = cold_reaching4(sum, t, h, b0, lim);
        if (!_mm_movemask_ps(cand)) {
          _mm_storeu_ps(cb + t, vnan);
          continue;
        }
        __m128 a[4], b[4];
        const float* tp = tags + int64_t(y0) * W + tx * 4;
        for (int q = 0; q < 4; ++q) {  // NaN ignored by the operand order, +-inf kept (as the summaries)
          const __m128 t0 = _mm_loadu_ps(tp + 4 * q), t1 = _mm_loadu_ps(tp + W + 4 * q),
                       t2 = _mm_loadu_ps(tp + 2 * W + 4 * q), t3 = _mm_loadu_ps(tp + 3 * W + 4 * q);
          a[q] = _mm_min_ps(t3, _mm_min_ps(t2, _mm_min_ps(t1, _mm_min_ps(t0, pinf))));
          b[q] = _mm_max_ps(t3, _mm_max_ps(t2, _mm_max_ps(t1, _mm_max_ps(t0, ninf))));
        }
        _MM_TRANSPOSE4_PS(a[0], a[1], a[2], a[3]);
        _MM_TRANSPOSE4_PS(b[0], b[1], b[2], b[3]);
        const __m128 lo = _mm_min_ps(_mm_min_ps(a[0], a[1]), _mm_min_ps(a[2], a[3]));
        const __m128 hi = _mm_max_ps(_mm_max_ps(b[0], b[1]), _mm_max_ps(b[2], b[3]));
        const __m128 ok = _mm_and_ps(cand, _mm_cmple_ps(lo, hi));
        const __m128 bound = select4(ok, score4_l1<V>(h, _mm_min_ps(_mm_max_ps(pv, lo), hi), pv), vnan);
        _mm_storeu_ps(cb + t, bound);
        unsigned m = unsigned(_mm_movemask_ps(_mm_cmpgt_ps(bound, _mm_set1_ps(top))));
        for (; m; m &= m - 1) keep_top(t + __builtin_ctz(m), cb[t + __builtin_ctz(m)]);
      }
    }
    for (; tx < g.TX; ++tx) {  // the rest one by one
      const int t = ty * g.TX + tx;
      cb[t] = nan;
      const float hm = sum.hmax[t];
      if (hm < best || sum.rbkt[t] <= cut_rb) continue;
      const int x0 = tx * 4;
      float lo, hi;
      tile_tag_range(tags, W, 1, y0, y0 + 4 < H ? y0 + 4 : H, x0, x0 + 4 < W ? x0 + 4 : W, &lo, &hi);
      if (!(lo <= hi)) continue;
      const float nearest = p < lo ? lo : (p > hi ? hi : p);
      cb[t] = refine_score(hm, refine_penalty_t<V, 1>(&nearest, &p, 1));
      keep_top(t, cb[t]);
    }
  }
  auto first_pixel = [&](int t) { return (t / g.TX) * 4 * W + (t % g.TX) * 4; };
  if (top_t >= 0 && refine_better(top, first_pixel(top_t), best, best_idx)) scan(top_t);
  int t = 0;
  for (; t + 4 <= NT; t += 4) {
    unsigned m = unsigned(_mm_movemask_ps(_mm_cmpge_ps(_mm_loadu_ps(cb + t), _mm_set1_ps(best))));
    for (; m; m &= m - 1) {
      const int u = t + __builtin_ctz(m);
      if (u != top_t && refine_better(cb[u], first_pixel(u), best, best_idx)) scan(u);
    }
  }
  for (; t < NT; ++t)
    if (t != top_t && cb[t] >= best && refine_better(cb[t], first_pixel(t), best, best_idx)) scan(t);
}
#endif

#if defined(__SSE2__)
// Bounds of four tiles (hottest heat hm, tag ranges lo/hi: LC values per tile, interleaved), as visit
// computes them one by one: NaN where a tile has no finite tag in dimension 0 (visit skips those), which
// fails every comparison with the best.
template <Variant V, int LC>
inline __m128 bound4(const float* hm, const float* lo, const float* hi, __m128 p0, __m128 p1) {
  __m128 lo0, hi0, bound;
  if (LC == 1) {
    lo0 = _mm_loadu_ps(lo);
    hi0 = _mm_loadu_ps(hi);
    bound = score4_l1<V>(_mm_loadu_ps(hm), _mm_min_ps(_mm_max_ps(p0, lo0), hi0), p0);
  } else {
    __m128 lo1, hi1;
    load_pairs4(lo, lo0, lo1);
    load_pairs4(hi, hi0, hi1);
    bound = score4_l2<V>(_mm_loadu_ps(hm), _mm_min_ps(_mm_max_ps(p0, lo0), hi0), _mm_min_ps(_mm_max_ps(p1, lo1), hi1),
                         p0, p1);
  }
  return select4(_mm_cmple_ps(lo0, hi0), bound, _mm_set1_ps(std::numeric_limits<float>::quiet_NaN()));
}
#endif

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
  auto scan = [&](int t) {
    const int y0 = (t / g.TX) * g.T, x0 = (t % g.TX) * g.T;
    const int y1 = y0 + g.T < H ? y0 + g.T : H, x1 = x0 + g.T < W ? x0 + g.T : W;
    scan_box<V, LC, ABS>(heat, tags, W, L, p, y0, y1, x0, x1, best, best_idx, best_heat);
    pixels += int64_t(y1 - y0) * (x1 - x0);
    best_bucket = heat_bucket(best);
  };
  // One tile whose hottest heat hm reaches the best: bound its score from above (its hottest heat minus the
  // penalty at the tag nearest to p; penalties are >= 0 and monotone) and scan it unless the bound loses.
  auto visit = [&](int t, float hm, const float* lo, const float* hi) {
    if (!(lo[0] <= hi[0])) return;  // no finite tag in this tile: every pixel's score is NaN
    for (int l = 0; l < Ln; ++l) nearest[l] = p[l] < lo[l] ? lo[l] : (p[l] > hi[l] ? hi[l] : p[l]);
    const int y0 = (t / g.TX) * g.T, x0 = (t % g.TX) * g.T;
    if (!refine_better(refine_score(hm, refine_penalty_t<V, LC>(nearest, p, Ln)), y0 * W + x0, best, best_idx))
      return;  // (NaN bounds skip too)
    scan(t);
  };
  // Hot tiles, hottest first: once whole buckets are below the best, no later tile can win.
  const int n_hot = sum.info[0];
  const uint32_t cut = uint32_t(sum.info[1]);
  bool stopped = false;
#if defined(__SSE2__)
  if (LC == 1 || LC == 2) {
    // A block of kBlock hot tiles' bounds at a time, four per vector (the same operations as visit, on the
    // padded arrays), into one mask; the tiles whose bound reaches the best are checked again in order,
    // against the best as it is then. The stop test runs once a block: tiles past the stopping point have
    // hm < best, so their bounds fail anyway. Blocks of 16 rather than groups of 4 took the refine stage
    // from 0.68 to 0.58 ms (crowded 256x256 frame, one thread; 512x512: 2.08 to 1.91 ms): far fewer
    // mispredicted branches per tile.
    const __m128 pv = _mm_set1_ps(p[0]), pv1 = _mm_set1_ps(p[LC - 1]);
    for (int i = 0; i < n_hot; i += kBlock) {
      const float h0 = sum.ohmax[i];
      if (h0 < best && heat_bucket(h0) < best_bucket) {
        stopped = true;
        break;
      }
      if (i + kBlock > sum.info[3]) fill_hot_ranges(tags, H, W, L, g, sum, i + kBlock);
      const __m128 bv = _mm_set1_ps(best);
      alignas(16) float b[kBlock];
      unsigned m = 0;
      for (int q = 0; q < kBlock; q += 4) {
        const __m128 bound = bound4<V, LC>(sum.ohmax + i + q, sum.olo + (i + q) * LC, sum.ohi + (i + q) * LC, pv, pv1);
        _mm_store_ps(b + q, bound);
        m |= unsigned(_mm_movemask_ps(_mm_cmpge_ps(bound, bv))) << q;
      }
      while (m) {
        const int j = __builtin_ctz(m);
        m &= m - 1;
        const int32_t off = sum.ooff[i + j];
        if (!refine_better(b[j], off & ~kPartial, best, best_idx)) continue;
        if (g.T == 4 && !(off & kPartial)) {
          scan_tile4<V, ABS, LC>(heat + off, tags + int64_t(off) * LC, W, p, off, best, best_idx, best_heat);
          pixels += 16;
          best_bucket = heat_bucket(best);
        } else {
          scan(sum.order[i + j]);
        }
      }
    }
  } else
#endif
  for (int i = 0; i < n_hot; ++i) {
    const float hm = sum.ohmax[i];
    if (hm < best) {
      if (heat_bucket(hm) < best_bucket) {
        stopped = true;
        break;
      }
      continue;
    }
    if (i >= sum.info[3]) fill_hot_ranges(tags, H, W, L, g, sum, i + 1);
    visit(sum.order[i], hm, sum.olo + int64_t(i) * L, sum.ohi + int64_t(i) * L);
  }
  // Cold tiles (buckets below cut), only when the best is below their buckets; their tag ranges are read here.
  if (!stopped && cut > best_bucket) {
#if defined(__SSE2__)
    if (LC == 1 && g.T == 4) {
      cold_pass_t4_l1<V>(tags, H, W, p[0], g, sum, scan, best, best_idx);
    } else
#endif
    {
      // The first such search of this joint reads every cold tile's tag range into the summary; the later
      // ones reuse them.
      const int NT = g.TY * g.TX;
      if (!sum.info[2]) {
        for (int t = 0; t < NT; ++t) {
          if (heat_bucket(sum.hmax[t]) >= cut) continue;
          const int y0 = (t / g.TX) * g.T, x0 = (t % g.TX) * g.T;
          tile_tag_range(tags, W, L, y0, y0 + g.T < H ? y0 + g.T : H, x0, x0 + g.T < W ? x0 + g.T : W,
                         sum.clo + int64_t(t) * L, sum.chi + int64_t(t) * L);
        }
        sum.info[2] = 1;
      }
      int t = 0;
#if defined(__SSE2__)
      if (LC == 2) {  // four tiles at a time, as the hot tiles (cold: reversed bucket above the cut's)
        const __m128 pv = _mm_set1_ps(p[0]), pv1 = _mm_set1_ps(p[1]);
        const __m128i lim = _mm_set1_epi32(int(kBuckets - 1 - cut));
        for (; t + 4 <= NT; t += 4) {
          const __m128 bv = _mm_set1_ps(best);
          const __m128 cand = cold_reaching4(sum, t, _mm_loadu_ps(sum.hmax + t), bv, lim);
          if (!_mm_movemask_ps(cand)) continue;
          const __m128 bound = bound4<V, 2>(sum.hmax + t, sum.clo + 2 * t, sum.chi + 2 * t, pv, pv1);
          unsigned m = unsigned(_mm_movemask_ps(_mm_and_ps(cand, _mm_cmpge_ps(bound, bv))));
          if (!m) continue;
          alignas(16) float b[4];
          _mm_store_ps(b, bound);
          for (; m; m &= m - 1) {
            const int j = __builtin_ctz(m), u = t + j;
            if (refine_better(b[j], (u / g.TX) * g.T * W + (u % g.TX) * g.T, best, best_idx)) scan(u);
          }
        }
      }
#endif
      for (; t < NT; ++t) {
        const float hm = sum.hmax[t];
        if (hm < best || heat_bucket(hm) >= cut) continue;
        visit(t, hm, sum.clo + int64_t(t) * L, sum.chi + int64_t(t) * L);
      }
    }
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

// Run F<V, LC, ABS>(args...) for the runtime variant, L and heat_abs: the tag length fixed at compile time
// where it is 1 or 2 (a plain tag, or the flip-test pair of HigherHRNet and mmpose), a run-time L otherwise.
#define HRD_DISPATCH_L(FN, V, ABS, L, ...)                                                          \
  return (L) == 1 ? FN<V, 1, ABS>(__VA_ARGS__) : (L) == 2 ? FN<V, 2, ABS>(__VA_ARGS__) : FN<V, 0, ABS>(__VA_ARGS__)
#define HRD_DISPATCH(FN, variant, L, heat_abs, ...)                                                   \
  do {                                                                                             \
    switch (variant) {                                                                             \
      case Variant::HigherHRNet:                                                                   \
        if (heat_abs) HRD_DISPATCH_L(FN, Variant::HigherHRNet, true, L, __VA_ARGS__);              \
        HRD_DISPATCH_L(FN, Variant::HigherHRNet, false, L, __VA_ARGS__);                           \
      case Variant::MMPose:                                                                        \
        if (heat_abs) HRD_DISPATCH_L(FN, Variant::MMPose, true, L, __VA_ARGS__);                   \
        HRD_DISPATCH_L(FN, Variant::MMPose, false, L, __VA_ARGS__);                                \
      case Variant::OMZ:                                                                           \
      default:                                                                                     \
        if (heat_abs) HRD_DISPATCH_L(FN, Variant::OMZ, true, L, __VA_ARGS__);                      \
        HRD_DISPATCH_L(FN, Variant::OMZ, false, L, __VA_ARGS__);                                   \
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
#undef HRD_DISPATCH_L

}  // namespace hrd
