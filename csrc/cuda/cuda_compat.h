// One kernel source, two compilers.
//
// Under nvcc this header is a thin layer over the CUDA runtime: HR_LAUNCH is `<<<>>>` followed by an error
// check, the memory helpers are checked cudaMalloc/cudaMemcpyAsync/... calls, and kernels live in namespace
// hrd::cuda.
//
// Under a host C++ compiler it is a CUDA emulator (the `emu` backend): __global__/__device__ vanish,
// threadIdx/blockIdx/blockDim/gridDim are thread_local globals, atomics are GCC __atomic builtins (relaxed,
// as CUDA's are), "device memory" is host memory, and HR_LAUNCH runs the grid on the CPU in one of four
// schedules (emu_mode):
//   serial   block by block, thread by thread (deterministic, fastest)
//   shuffle  every (block, thread) pair in a random order (HREMU_SEED): exposes order dependence
//   threads  blocks split round-robin over HREMU_WORKERS host threads: real concurrency, TSan sees
//            inter-block races (a static split, so the scheduler itself adds no happens-before edges)
//   block    blockDim host threads, one per CUDA thread, blocks run one after another with a barrier
//            between blocks and at every __syncthreads(): TSan sees intra-block races
// The mode comes from HREMU_MODE at first use and can be changed with set_emu_mode (tests do).
// Kernels live in namespace hrd::emu, so the nvcc and g++ builds of the same source never share a mangled
// name (an ODR clash the linker would not report).
//
// Kernels written for this project use a subset both sides support: grid-stride loops, 32/64-bit atomics,
// no warp intrinsics, no dynamic shared memory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#include <cuda_runtime.h>

#define HR_NS cuda
#define HR_KERNEL __global__
#define HR_DEVICE __device__ __forceinline__

namespace hrd {
namespace cuda {
using stream_t = cudaStream_t;

// Every CUDA call is checked; the error names the call and what it was doing.
inline void check(cudaError_t e, const char* call, const char* what) {
  if (e == cudaSuccess) return;
  (void)cudaGetLastError();
  throw std::runtime_error(std::string("CUDA error ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) +
                           ") in " + call + " (" + what + ")");
}
inline void* dev_alloc(size_t bytes, const char* what) {
  void* p = nullptr;
  if (bytes == 0) bytes = 1;
  check(cudaMalloc(&p, bytes), "cudaMalloc", what);
  return p;
}
inline void dev_free(void* p) noexcept {
  if (p) (void)cudaFree(p);  // at process exit the runtime may already be gone: nothing useful to report
  (void)cudaGetLastError();
}
inline void copy_to_device(void* dst, const void* src, size_t bytes, stream_t s, const char* what) {
  if (bytes) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s), "cudaMemcpyAsync(host to device)", what);
}
inline void copy_to_host(void* dst, const void* src, size_t bytes, stream_t s, const char* what) {
  if (bytes) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync(device to host)", what);
}
inline void copy_on_device(void* dst, const void* src, size_t bytes, stream_t s, const char* what) {
  if (bytes) check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s), "cudaMemcpyAsync(device to device)", what);
}
inline void fill_zero(void* dst, size_t bytes, stream_t s, const char* what) {
  if (bytes) check(cudaMemsetAsync(dst, 0, bytes, s), "cudaMemsetAsync", what);
}
inline void sync(stream_t s, const char* what) { check(cudaStreamSynchronize(s), "cudaStreamSynchronize", what); }
}  // namespace cuda
}  // namespace hrd

#define HR_LAUNCH(kernel, grid, block, stream, ...)                                   \
  do {                                                                                \
    kernel<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__);                            \
    ::hrd::cuda::check(cudaGetLastError(), "kernel launch", #kernel);                 \
  } while (0)

#else  // ---------------------------------------------------------------- host emulation

#include <functional>

#include "cuda/emu_mode.h"

#define HR_NS emu
#define HR_KERNEL
#define HR_DEVICE inline

struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
inline thread_local uint3 threadIdx, blockIdx;
inline thread_local dim3 blockDim, gridDim;

inline unsigned __float_as_uint(float f) {
  unsigned u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
template <typename T>
inline T __ldg(const T* p) {
  return *p;
}

// CUDA atomics: relaxed read-modify-write. The second parameter is not deduced, as in CUDA, so
// atomicAdd(unsigned long long*, 1) compiles.
template <typename T>
struct hremu_id {
  using type = T;
};
template <typename T>
inline T atomicAdd(T* p, typename hremu_id<T>::type v) {
  return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
template <typename T>
inline T atomicMax(T* p, typename hremu_id<T>::type v) {
  T old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (old < v && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
template <typename T>
inline T atomicMin(T* p, typename hremu_id<T>::type v) {
  T old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (v < old && !__atomic_compare_exchange_n(p, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}

void __syncthreads();  // defined in emu_runtime.cpp: a barrier in `block` mode, an error otherwise

namespace hrd {
namespace emu {

// Runs body(block, thread) for every (block, thread) of the grid in the current mode; the caller's lambda
// sets nothing: threadIdx/blockIdx/blockDim/gridDim are set here before each call.
void run_grid(unsigned grid, unsigned block, const std::function<void()>& body);

using stream_t = void*;
inline void* dev_alloc(size_t bytes, const char*) {
  void* p = ::operator new(bytes ? bytes : 1);
  return p;
}
inline void dev_free(void* p) noexcept { ::operator delete(p); }
inline void copy_to_device(void* dst, const void* src, size_t bytes, stream_t, const char*) {
  if (bytes) std::memcpy(dst, src, bytes);
}
inline void copy_to_host(void* dst, const void* src, size_t bytes, stream_t, const char*) {
  if (bytes) std::memcpy(dst, src, bytes);
}
inline void copy_on_device(void* dst, const void* src, size_t bytes, stream_t, const char*) {
  if (bytes) std::memcpy(dst, src, bytes);
}
inline void fill_zero(void* dst, size_t bytes, stream_t, const char*) {
  if (bytes) std::memset(dst, 0, bytes);
}
inline void sync(stream_t, const char*) {}

}  // namespace emu
}  // namespace hrd

#define HR_LAUNCH(kernel, grid, block, stream, ...)                        \
  do {                                                                     \
    (void)(stream);                                                        \
    ::hrd::emu::run_grid((grid), (block), [&]() { kernel(__VA_ARGS__); }); \
  } while (0)

#endif

namespace hrd {
namespace HR_NS {

// Blocks for a grid-stride loop over n items: enough to fill a large GPU, capped so the loop does the rest.
inline unsigned grid_for(int64_t n, unsigned block, unsigned cap = 8192) {
  const int64_t b = (n + block - 1) / block;
  return unsigned(b < 1 ? 1 : (b > cap ? cap : b));
}

}  // namespace HR_NS
}  // namespace hrd
