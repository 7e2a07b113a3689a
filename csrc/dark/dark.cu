// The emu and CUDA backends of top-down decoding: four launches per batch, rules from dark_rule.h.
//   1. peaks:  one thread per map: argmax, masked coordinates, quarter shift; does DARK apply?
//   2. rows:   one thread per pixel of the maps DARK applies to: the blur's row pass (float64)
//   3. cols:   the same for the column pass, rounded to float32
//   4. finish: one thread per map: blurred maximum, rescale, log, Taylor step, affine to the image
// Compiled twice like decode_device.cu: by nvcc (namespace hrd::cuda) and, included from dark_emu.cpp, by
// the host compiler (hrd::emu), so the launch sequence and buffer handling run in the tests too.
// The Gaussian coefficients are computed on the host (gaussian_kernel_cv) and uploaded, so the device's
// exp never enters the result.
#include <vector>

#include "cuda/cuda_compat.h"
#include "dark/dark.h"
#include "dark/dark_rule.h"

namespace hrd {
namespace HR_NS {
namespace {

constexpr unsigned kTopdownBlock = 256;

HR_KERNEL void topdown_peak_kernel(const float* heat, int64_t NK, int H, int W, int method, float* xy /* NKx2 */,
                                   float* maxv /* NK */, int* dark /* NK */) {
  const int64_t HW = int64_t(H) * W;
  for (int64_t m = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; m < NK; m += int64_t(blockDim.x) * gridDim.x) {
    const float* map = heat + m * HW;
    float mv, x, y;
    const int64_t idx = argmax_first(map, HW, &mv);
    peak_coords(idx, mv, W, &x, &y);
    if (method == int(TopdownMethod::Quarter)) quarter_step(map, H, W, &x, &y);
    xy[2 * m] = x;
    xy[2 * m + 1] = y;
    maxv[m] = mv;
    dark[m] = (method == int(TopdownMethod::Dark) && dark_applies(H, W, x, y)) ? 1 : 0;
  }
}

HR_KERNEL void dark_row_kernel(const float* heat, int64_t NK, int H, int W, const double* k, int r,
                               const int* dark, double* rows /* NKxHxW */) {
  const int64_t HW = int64_t(H) * W, n = NK * HW;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t m = i / HW, p = i % HW;
    if (!dark[m]) continue;
    rows[i] = blur_row_at(heat + m * HW, W, int(p / W), int(p % W), k, r);
  }
}

HR_KERNEL void dark_col_kernel(const double* rows, int64_t NK, int H, int W, const double* k, int r,
                               const int* dark, float* blur /* NKxHxW */) {
  const int64_t HW = int64_t(H) * W, n = NK * HW;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t m = i / HW, p = i % HW;
    if (!dark[m]) continue;
    blur[i] = blur_col_at(rows + m * HW, H, W, int(p / W), int(p % W), k, r);
  }
}

HR_KERNEL void topdown_finish_kernel(const float* blur, int64_t NK, int K, int H, int W, const float* xy,
                                     const float* maxv, const int* dark, const double* affine /* Nx2x3 */,
                                     float* kp /* NKx2 */, float* sc /* NK */) {
  const int64_t HW = int64_t(H) * W;
  for (int64_t m = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; m < NK; m += int64_t(blockDim.x) * gridDim.x) {
    float x = xy[2 * m], y = xy[2 * m + 1];
    if (dark[m]) {
      const float* b = blur + m * HW;
      float bmax = b[0];
      for (int64_t i = 1; i < HW; ++i) bmax = b[i] > bmax ? b[i] : bmax;
      const float factor = dark_rescale_factor(maxv[m], bmax);
      const int px = int(x), py = int(y);
      float patch[25];
      for (int dy = -2; dy <= 2; ++dy)
        for (int dx = -2; dx <= 2; ++dx)
          patch[(2 + dy) * 5 + 2 + dx] =
              dark_patch_used(dy, dx) ? dark_log(b[int64_t(py + dy) * W + (px + dx)], factor) : 0.0f;
      dark_taylor(patch, &x, &y);
    }
    apply_affine(affine + (m / K) * 6, x, y, kp + 2 * m);
    sc[m] = maxv[m];
  }
}

// Device memory for the duration of one call (freed on every path, exceptions included).
class DevMem {
 public:
  DevMem(size_t bytes, const char* what) : p_(dev_alloc(bytes, what)) {}
  ~DevMem() { dev_free(p_); }
  DevMem(const DevMem&) = delete;
  DevMem& operator=(const DevMem&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  void* p_;
};

}  // namespace

void topdown_batch(const TopdownParams& prm, const float* heat_h, int N, int K, int H, int W,
                   const double* affine_h, float* kp_h, float* sc_h, stream_t st) {
  const int64_t NK = int64_t(N) * K, HW = int64_t(H) * W;
  if (NK == 0) return;
  const unsigned B = kTopdownBlock;
  DevMem heat(sizeof(float) * size_t(NK * HW), "top-down heatmaps");
  DevMem aff(sizeof(double) * size_t(N) * 6, "top-down affines");
  DevMem xy(sizeof(float) * size_t(NK) * 2, "top-down peaks");
  DevMem maxv(sizeof(float) * size_t(NK), "top-down maxima");
  DevMem dark(sizeof(int) * size_t(NK), "top-down DARK flags");
  DevMem kp(sizeof(float) * size_t(NK) * 2, "top-down keypoints");
  DevMem sc(sizeof(float) * size_t(NK), "top-down scores");
  copy_to_device(heat.as<float>(), heat_h, sizeof(float) * size_t(NK * HW), st, "top-down heatmaps");
  copy_to_device(aff.as<double>(), affine_h, sizeof(double) * size_t(N) * 6, st, "top-down affines");
  HR_LAUNCH(topdown_peak_kernel, grid_for(NK, B), B, st, heat.as<float>(), NK, H, W, prm.method, xy.as<float>(),
            maxv.as<float>(), dark.as<int>());
  const bool use_dark = prm.method == int(TopdownMethod::Dark);
  const int kb = prm.blur_kernel < 1 ? 1 : prm.blur_kernel, r = (kb - 1) / 2;
  DevMem kern(sizeof(double) * size_t(kb), "Gaussian kernel");
  DevMem rows(use_dark ? sizeof(double) * size_t(NK * HW) : 1, "blur row pass");
  DevMem blur(use_dark ? sizeof(float) * size_t(NK * HW) : 1, "blurred heatmaps");
  std::vector<double> kern_h(static_cast<size_t>(kb));
  if (use_dark) {
    gaussian_kernel_cv(kb, kern_h.data());
    copy_to_device(kern.as<double>(), kern_h.data(), sizeof(double) * size_t(kb), st, "Gaussian kernel");
    HR_LAUNCH(dark_row_kernel, grid_for(NK * HW, B), B, st, heat.as<float>(), NK, H, W, kern.as<double>(), r,
              dark.as<int>(), rows.as<double>());
    HR_LAUNCH(dark_col_kernel, grid_for(NK * HW, B), B, st, rows.as<double>(), NK, H, W, kern.as<double>(), r,
              dark.as<int>(), blur.as<float>());
  }
  HR_LAUNCH(topdown_finish_kernel, grid_for(NK, B), B, st, blur.as<float>(), NK, K, H, W, xy.as<float>(),
            maxv.as<float>(), dark.as<int>(), aff.as<double>(), kp.as<float>(), sc.as<float>());
  copy_to_host(kp_h, kp.as<float>(), sizeof(float) * size_t(NK) * 2, st, "top-down keypoints");
  copy_to_host(sc_h, sc.as<float>(), sizeof(float) * size_t(NK), st, "top-down scores");
  sync(st, "top-down decode");
}

}  // namespace HR_NS

#if defined(__CUDACC__)
void topdown_batch_cuda(const TopdownParams& prm, const float* heat, int N, int K, int H, int W,
                        const double* affine, float* keypoints, float* scores, uintptr_t stream) {
  cuda::topdown_batch(prm, heat, N, K, H, W, affine, keypoints, scores, reinterpret_cast<cudaStream_t>(stream));
}
#else
void topdown_batch_emu(const TopdownParams& prm, const float* heat, int N, int K, int H, int W,
                       const double* affine, float* keypoints, float* scores) {
  emu::topdown_batch(prm, heat, N, K, H, W, affine, keypoints, scores, nullptr);
}
#endif

}  // namespace hrd
