// Top-down decoding of person-crop heatmaps (HRNet argmax / quarter offset, DarkPose DARK), batched.
// Rules in dark_rule.h; the CPU loop in dark_cpu.cpp; the CUDA / emulated kernels in dark.cu.
#pragma once
#include <cstdint>

namespace hrd {

struct TopdownParams {
  int method = 2;        // TopdownMethod: 0 argmax, 1 quarter, 2 dark
  int blur_kernel = 11;  // odd, >= 1 (dark only)
  int threads = 1;       // CPU: crops in parallel
};

// heat: NxKxHxW float32 (host). affine: Nx2x3 (hrnet_inverse_affine of each crop). Writes keypoints
// (NxKx2, image coordinates) and scores (NxK, the maxima).
void topdown_cpu(const TopdownParams& prm, const float* heat, int N, int K, int H, int W, const double* affine,
                 float* keypoints, float* scores);

// The same through the kernels of dark.cu compiled for the host (always built).
void topdown_batch_emu(const TopdownParams& prm, const float* heat, int N, int K, int H, int W,
                       const double* affine, float* keypoints, float* scores);

#if defined(HRDECODE_WITH_CUDA)
// The same on the current CUDA device, host inputs and outputs, work on `stream` (0: default stream).
void topdown_batch_cuda(const TopdownParams& prm, const float* heat, int N, int K, int H, int W,
                        const double* affine, float* keypoints, float* scores, uintptr_t stream);
#endif

}  // namespace hrd
