// The CUDA emulator's grid runner (see cuda_compat.h for the modes). Host C++ only.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "cuda/cuda_compat.h"

namespace hrd {
namespace emu {
namespace {

struct Config {
  Mode mode = Mode::Serial;
  unsigned seed = 0;
  int workers = 4;
};

Config from_env() {
  Config c;
  if (const char* m = std::getenv("HREMU_MODE")) {
    const std::string s(m);
    if (s == "serial") c.mode = Mode::Serial;
    else if (s == "shuffle") c.mode = Mode::Shuffle;
    else if (s == "threads") c.mode = Mode::Threads;
    else if (s == "block") c.mode = Mode::Block;
    else std::fprintf(stderr, "hrdecode: HREMU_MODE=%s is not one of serial, shuffle, threads, block; using serial\n", m);
  }
  if (const char* v = std::getenv("HREMU_SEED")) c.seed = unsigned(std::strtoul(v, nullptr, 10));
  if (const char* v = std::getenv("HREMU_WORKERS")) c.workers = std::max(1, std::atoi(v));
  return c;
}

std::mutex g_cfg_mu;
Config& config() {
  static Config c = from_env();
  return c;
}
Config snapshot() {
  std::lock_guard<std::mutex> lk(g_cfg_mu);
  return config();
}

// A reusable barrier (C++17 has none); mutex + condition variable, which ThreadSanitizer understands.
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lk(mu_);
    const unsigned gen = gen_;
    if (++arrived_ == n_) {
      arrived_ = 0;
      ++gen_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lk, [&] { return gen_ != gen; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_, arrived_ = 0;
  unsigned gen_ = 0;
};

thread_local Barrier* t_block_barrier = nullptr;
std::atomic<unsigned> g_launch{0};

inline void set_ids(unsigned grid, unsigned block, unsigned b, unsigned t) {
  gridDim = dim3(grid);
  blockDim = dim3(block);
  blockIdx.x = b;
  threadIdx.x = t;
}

}  // namespace

Mode emu_mode() { return snapshot().mode; }

void set_emu_mode(Mode m, unsigned seed, int workers) {
  std::lock_guard<std::mutex> lk(g_cfg_mu);
  config() = Config{m, seed, std::max(1, workers)};
}

const char* emu_mode_name(Mode m) {
  switch (m) {
    case Mode::Serial: return "serial";
    case Mode::Shuffle: return "shuffle";
    case Mode::Threads: return "threads";
    case Mode::Block: return "block";
  }
  return "?";
}

void run_grid(unsigned grid, unsigned block, const std::function<void()>& body) {
  if (grid == 0 || block == 0) return;
  const Config c = snapshot();
  switch (c.mode) {
    case Mode::Serial:
      for (unsigned b = 0; b < grid; ++b)
        for (unsigned t = 0; t < block; ++t) {
          set_ids(grid, block, b, t);
          body();
        }
      return;
    case Mode::Shuffle: {
      std::vector<uint64_t> pairs(uint64_t(grid) * block);
      std::iota(pairs.begin(), pairs.end(), uint64_t(0));
      // A different order every launch, reproducible from the seed.
      std::mt19937_64 rng(uint64_t(c.seed) * 0x9E3779B97F4A7C15ull + g_launch.fetch_add(1));
      std::shuffle(pairs.begin(), pairs.end(), rng);
      for (uint64_t q : pairs) {
        set_ids(grid, block, unsigned(q / block), unsigned(q % block));
        body();
      }
      return;
    }
    case Mode::Threads: {
      const unsigned nw = std::min<unsigned>(unsigned(c.workers), grid);
      std::vector<std::thread> ws;
      ws.reserve(nw);
      for (unsigned w = 0; w < nw; ++w)
        ws.emplace_back([&, w] {
          for (unsigned b = w; b < grid; b += nw)  // static split: no synchronisation between blocks
            for (unsigned t = 0; t < block; ++t) {
              set_ids(grid, block, b, t);
              body();
            }
        });
      for (auto& th : ws) th.join();
      return;
    }
    case Mode::Block: {
      Barrier bar{int(block)};
      std::vector<std::thread> ws;
      ws.reserve(block);
      for (unsigned t = 0; t < block; ++t)
        ws.emplace_back([&, t] {
          t_block_barrier = &bar;
          for (unsigned b = 0; b < grid; ++b) {
            set_ids(grid, block, b, t);
            body();
            bar.wait();  // the next block starts when every thread of this one is done
          }
          t_block_barrier = nullptr;
        });
      for (auto& th : ws) th.join();
      return;
    }
  }
}

}  // namespace emu
}  // namespace hrd

void __syncthreads() {
  if (hrd::emu::t_block_barrier == nullptr) {
    std::fprintf(stderr, "hrdecode emu: __syncthreads() needs HREMU_MODE=block\n");
    std::abort();
  }
  hrd::emu::t_block_barrier->wait();
}
