// CPU backend of top-down decoding: one map at a time, maps of the batch in parallel.
//
// DARK needs, of the blurred map, only its maximum (for the rescale) and 13 values around the peak. The
// blur is computed row pass first (a row of the row pass is `T`), then column pass, each pixel with the
// additions of dark_rule.h's blur_row_at / blur_col_at in the same order (loops are arranged with the pixel
// innermost so they vectorise; the values are the same). To find the maximum without blurring the whole
// map, each output row has an upper bound of its values, and only rows whose bound reaches the maximum
// found so far (starting from the peak's row) are blurred; T rows are computed only when an output row
// needs them. The bound (per output row y):
//     blur(y, x) = sum_i k_i T(y-r+i, x),  T(row, x) = sum_j k_j h(row, x-r+j) <= S * hpos(row)
// with k >= 0, S = sum k, hpos(row) = max(0, max of the row's (finite) pixels); so
//     blur(y, x) <= U(y) = S * sum_i k_i hpos(y-r+i)
// plus a margin for the float64 rounding of both passes (taps * 2^-48 of the largest |pixel|, 32 times the
// worst-case accumulated error). The result is exact: tests/test_topdown.py
// compares every output against the NumPy twin, which blurs the whole map.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "common/thread_pool.h"
#include "dark/dark.h"
#include "dark/dark_rule.h"

namespace hrd {
namespace {

struct DarkScratch {
  std::vector<double> pad;    // W + 2r: one zero-padded row
  std::vector<double> rows;   // (H + 2r) x W: T with r zero rows above and below
  std::vector<char> have;     // H: T row computed
  std::vector<double> hpos;   // H + 2r: max(0, row max), zero for the padding rows
  std::vector<double> bound;  // H: U(y)
  std::vector<double> acc;    // W
};

// acc[x] = k[0] * src[x], then acc[x] = acc[x] + k[j] * src[x + j * step] for j = 1..taps-1.
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
void taps_pass(const double* __restrict src, int64_t step, const double* __restrict k, int taps, int W,
               double* __restrict acc) {
  for (int x = 0; x < W; ++x) acc[x] = k[0] * src[x];
  for (int j = 1; j < taps; ++j) {
    const double kj = k[j];
    const double* __restrict p = src + j * step;
    for (int x = 0; x < W; ++x) acc[x] = acc[x] + kj * p[x];
  }
}

// Greatest and least value of a row, non-finite pixels read as 0 (so hi >= 0 >= lo), through keys.
void row_range(const float* src, int W, float* hi, float* lo) {
  int32_t h = 0, l = 0;
  for (int x = 0; x < W; ++x) {
    int32_t k = finite_key(src[x]);
    k = k == INT32_MIN ? 0 : k;
    h = k > h ? k : h;
    l = k < l ? k : l;
  }
  *hi = key_value(h);
  *lo = key_value(l);
}

class Blur {
 public:
  Blur(const float* map, int H, int W, const double* k, int r, DarkScratch& s)
      : map_(map), H_(H), W_(W), k_(k), r_(r), s_(s) {
    s.pad.assign(size_t(W + 2 * r), 0.0);  // the r zeros on each side stay zero
    s.rows.resize(size_t(H + 2 * r) * W);
    std::fill(s.rows.begin(), s.rows.begin() + int64_t(r) * W, 0.0);
    std::fill(s.rows.end() - int64_t(r) * W, s.rows.end(), 0.0);
    s.have.assign(size_t(H), 0);
    s.acc.resize(size_t(W));
  }

  // Row y (of the map) of T, computed on first use.
  const double* t_row(int y) {
    double* out = s_.rows.data() + int64_t(r_ + y) * W_;
    if (!s_.have[size_t(y)]) {
      const float* src = map_ + int64_t(y) * W_;
      for (int x = 0; x < W_; ++x) s_.pad[size_t(r_ + x)] = double(finite_or_zero(src[x]));
      taps_pass(s_.pad.data(), 1, k_, 2 * r_ + 1, W_, out);
      s_.have[size_t(y)] = 1;
    }
    return out;
  }
  void ensure_rows(int y) {
    for (int yy = std::max(0, y - r_); yy <= std::min(H_ - 1, y + r_); ++yy) t_row(yy);
  }

  // The maximum of the blurred map (float32). The argmax row first (the blurred maximum is usually near
  // it), then every row whose bound still reaches the maximum so far.
  float max_value(int first_row) {
    const int H = H_, W = W_, r = r_, taps = 2 * r + 1;
    s_.hpos.assign(size_t(H + 2 * r), 0.0);
    float amax = 0.0f;
    for (int y = 0; y < H; ++y) {
      float hi, lo;
      row_range(map_ + int64_t(y) * W, W, &hi, &lo);
      s_.hpos[size_t(r + y)] = hi;
      amax = std::max(amax, std::max(hi, -lo));
    }
    // Rounding: each pass adds `taps` products, so its error is below taps * 2^-53 of the sum of the
    // magnitudes (<= amax, the kernel sums to 1); the bound allows 2^5 times that, in both terms.
    const double slack = double(taps) * std::ldexp(1.0, -48);
    const double S = std::accumulate(k_, k_ + taps, 0.0) * (1.0 + slack);
    const double margin = double(amax) * slack + 1e-300;
    s_.bound.resize(size_t(H));
    for (int y = 0; y < H; ++y) {
      double u = 0.0;
      for (int i = 0; i < taps; ++i) u += k_[i] * s_.hpos[size_t(y + i)];
      s_.bound[size_t(y)] = S * u * (1.0 + slack) + margin;
    }
    float mx = row_max(first_row);
    for (int y = 0; y < H; ++y)
      if (y != first_row && !(float(s_.bound[size_t(y)]) < mx)) mx = std::max(mx, row_max(y));
    return mx;
  }

  // The greatest blurred value (float32) of output row y.
  float row_max(int y) {
    ensure_rows(y);
    double* acc = s_.acc.data();
    taps_pass(s_.rows.data() + int64_t(y) * W_, W_, k_, 2 * r_ + 1, W_, acc);
    // float32 values of finite doubles: keys order them exactly (-0 below +0 only changes which zero is
    // reported, and only the value is used).
    int32_t m = INT32_MIN;
    for (int x = 0; x < W_; ++x) {
      const int32_t k = finite_key(float(acc[x]));
      m = k > m ? k : m;
    }
    return key_value(m);
  }

  // One blurred value (float32), as blur_col_at.
  float at(int y, int x) {
    ensure_rows(y);
    return blur_col_at(s_.rows.data() + int64_t(r_) * W_, H_, W_, y, x, k_, r_);
  }

 private:
  const float* map_;
  int H_, W_;
  const double* k_;
  int r_;
  DarkScratch& s_;
};

// (The scans of the map vectorise; an AVX2 clone doubles their width where the CPU has it. No FMA: the
// arithmetic is the same IEEE operations either way.)
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
void decode_map(const TopdownParams& prm, const float* map, int H, int W, const double* kern, int r,
                const double* affine, float* kp, float* score, DarkScratch& s) {
  float maxval;
  const int64_t idx = argmax_first(map, int64_t(H) * W, &maxval);
  float x, y;
  peak_coords(idx, maxval, W, &x, &y);
  if (prm.method == int(TopdownMethod::Quarter)) {
    quarter_step(map, H, W, &x, &y);
  } else if (prm.method == int(TopdownMethod::Dark) && dark_applies(H, W, x, y)) {
    Blur blur(map, H, W, kern, r, s);
    const float factor = dark_rescale_factor(maxval, blur.max_value(int(y)));
    const int px = int(x), py = int(y);
    float patch[25] = {0};
    for (int dy = -2; dy <= 2; ++dy)
      for (int dx = -2; dx <= 2; ++dx)
        if (dark_patch_used(dy, dx)) patch[(2 + dy) * 5 + 2 + dx] = dark_log(blur.at(py + dy, px + dx), factor);
    dark_taylor(patch, &x, &y);
  }
  apply_affine(affine, x, y, kp);
  *score = maxval;
}

}  // namespace

void topdown_cpu(const TopdownParams& prm, const float* heat, int N, int K, int H, int W, const double* affine,
                 float* keypoints, float* scores) {
  const int kb = prm.blur_kernel < 1 ? 1 : prm.blur_kernel;
  std::vector<double> kern(static_cast<size_t>(kb));
  gaussian_kernel_cv(kb, kern.data());
  const int r = (kb - 1) / 2;
  const int64_t HW = int64_t(H) * W;
  const int maps = N * K;
  // Maps in parallel; chunks of a few maps so the hand-off costs little next to a map's work.
  const int chunk = 4, nchunks = (maps + chunk - 1) / chunk;
  parallel_for(nchunks, prm.threads, [&](int c) {
    thread_local DarkScratch scratch;
    const int end = std::min(maps, (c + 1) * chunk);
    for (int m = c * chunk; m < end; ++m)
      decode_map(prm, heat + int64_t(m) * HW, H, W, kern.data(), r, affine + size_t(m / K) * 6,
                 keypoints + size_t(m) * 2, scores + m, scratch);
  });
}

}  // namespace hrd
