// Host/device qualifiers: every decision rule is written once and compiled for the CPU loop, the CUDA
// kernel and the emulated kernel alike.
#pragma once

#if defined(__CUDACC__)
#define HRD_HOST_DEVICE __host__ __device__
#define HRD_INLINE __host__ __device__ __forceinline__
#else
#define HRD_HOST_DEVICE
#define HRD_INLINE inline
#endif
