// A small persistent worker pool for batch decoding. Workers are started on first use and live for the
// process, so per-thread scratch memory (thread_local) is allocated once.
#pragma once
#include <functional>
#include <thread>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace hrd {

// One step of a busy wait: the pause instruction where there is one (it tells the core to let the other
// hardware thread run and to save power), else a yield.
inline void cpu_relax() {
#if defined(__SSE2__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// Number of threads parallel_for may use (workers + the caller). HRDECODE_NUM_THREADS overrides the
// default (the number of hardware threads).
int default_num_threads();

// Runs fn(i) for every i in [0, n) on up to max_threads threads, the caller included, and returns when
// all are done. If another caller is using the pool at the moment, runs everything on the calling thread.
void parallel_for(int n, int max_threads, const std::function<void(int)>& fn);

}  // namespace hrd
