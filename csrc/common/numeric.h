// Floating-point helpers whose exact evaluation order is part of the reference semantics.
//
// The reference decoders are NumPy code; to reproduce their floats bit for bit we must add numbers in the
// order NumPy does:
//  * a reduction along a contiguous (inner) axis uses NumPy's pairwise summation: blocks of 8 partial sums
//    for n >= 8, a plain loop starting from 0 for n < 8, recursive halving above 128 elements;
//  * a reduction along an outer axis adds the slices one after another (sequential).
// Both were checked empirically against numpy 2.x (tests/test_numeric.py keeps that check).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/host_device.h"

namespace hrd {

// NumPy's pairwise order below 8 elements: a plain loop from 0. Not recursive, so it inlines into hot loops
// (with n known at compile time the loop unrolls), which the recursive pairwise_reduce does not.
template <typename T, typename F>
HRD_INLINE T plain_reduce(int64_t lo, int64_t n, const F& f) {
  T res = T(0);
  for (int64_t i = 0; i < n; ++i) res += f(lo + i);
  return res;
}

// Sum of f(lo..lo+n-1) in NumPy's pairwise order. f returns T.
template <typename T, typename F>
HRD_INLINE T pairwise_reduce(int64_t lo, int64_t n, const F& f) {
  if (n < 8) return plain_reduce<T>(lo, n, f);
  if (n <= 128) {
    T r[8];
    for (int j = 0; j < 8; ++j) r[j] = f(lo + j);
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += f(lo + i + j);
    T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += f(lo + i);
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_reduce<T>(lo, n2, f) + pairwise_reduce<T>(lo + n2, n - n2, f);
}

template <typename T>
HRD_INLINE T pairwise_sum(const T* a, int64_t n, int64_t stride) {
  return pairwise_reduce<T>(0, n, [&](int64_t i) { return a[i * stride]; });
}

// sum_l (T(t_l) - T(q_l))^2 in pairwise order: np.linalg.norm(..., axis=<contiguous L axis>) before the sqrt.
// (Tag lengths are almost always below 8: that case goes straight to the inlinable plain loop.)
template <typename T>
HRD_INLINE T pairwise_sum_sq(const float* t, const float* q, int64_t n) {
  auto sq = [&](int64_t i) {
    const T d = T(t[i]) - T(q[i]);
    return d * d;
  };
  return n < 8 ? plain_reduce<T>(0, n, sq) : pairwise_reduce<T>(0, n, sq);
}

template <typename T>
HRD_INLINE T sequential_sum(const T* a, int64_t n, int64_t stride) {
  T res = a[0];
  for (int64_t i = 1; i < n; ++i) res += a[i * stride];
  return res;
}

// np.mean(list_of_n_vectors_of_length_L, axis=0) in float32: NumPy treats an (n,1) array as a contiguous
// reduction (pairwise) and an (n,L>1) array as an outer-axis reduction (sequential). src: n x L rows.
HRD_INLINE void numpy_mean_rows_f32(const float* src, int n, int L, float* out /* L */) {
  for (int l = 0; l < L; ++l) {
    const float s = (L == 1) ? pairwise_sum<float>(src, n, 1) : sequential_sum<float>(src + l, n, L);
    out[l] = s / float(n);
  }
}

// np.round: round half to even, never std::round (half away from zero). Written out rather than rintf()
// because baseline x86-64 has no rounding instruction and the libm call dominated the refine search:
// adding and subtracting 2^23 (2^52) rounds to the integer grid with ties to even (round-to-nearest mode),
// exactly as rint does; larger magnitudes are already integers; NaN and inf pass through.
HRD_INLINE float round_half_even(float v) {
  const float a = fabsf(v);
  const float r = (a + 8388608.0f) - 8388608.0f;
  return a < 8388608.0f ? copysignf(r, v) : v;  // select, not branch: the CPU scan vectorises this
}
HRD_INLINE double round_half_even(double v) {
  const double a = fabs(v);
  if (!(a < 4503599627370496.0)) return v;
  return copysign((a + 4503599627370496.0) - 4503599627370496.0, v);
}

// max/min as selects (no NaN handling needed: callers pass finite values or the neutral element).
HRD_INLINE float fmaxf_keep(float a, float b) { return b > a ? b : a; }
HRD_INLINE float fminf_keep(float a, float b) { return b < a ? b : a; }

HRD_INLINE bool is_finite(float v) { return v - v == 0.0f; }
HRD_INLINE bool is_finite(double v) { return v - v == 0.0; }

// Bits of a float (and back); ordered_bits maps floats to unsigned integers in the same order, with -0 == +0 (as the
// float comparison has it). NaN is never passed.
HRD_INLINE uint32_t float_bits(float v) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(v);
#else
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
#endif
}
HRD_INLINE float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float v;
  std::memcpy(&v, &u, 4);
  return v;
#endif
}
HRD_INLINE uint32_t ordered_bits(float v) {
  const uint32_t u = float_bits(v == 0.0f ? 0.0f : v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

HRD_INLINE float ordered_value(uint32_t u) { return bits_float((u & 0x80000000u) ? (u & 0x7fffffffu) : ~u); }

// A 64-bit key ordering (value descending, then index ascending) as one unsigned integer, larger first:
// an atomicMax over keys is an argmax with first-index ties. Never 0 for a finite value.
HRD_INLINE unsigned long long value_index_key(float v, int32_t idx) {
  return (static_cast<unsigned long long>(ordered_bits(v)) << 32) | (0xFFFFFFFFu - static_cast<uint32_t>(idx));
}
HRD_INLINE int32_t key_index(unsigned long long key) {
  return static_cast<int32_t>(0xFFFFFFFFu - static_cast<uint32_t>(key & 0xFFFFFFFFull));
}

}  // namespace hrd
