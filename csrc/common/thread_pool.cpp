#include "common/thread_pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace hrd {
namespace {

using Clock = std::chrono::steady_clock;

// How long an idle worker keeps polling for the next parallel_for before it sleeps, and how long the caller
// polls for the workers to finish before it sleeps. A decode makes two to four parallel_for calls a few
// microseconds apart; waking a sleeping thread costs tens of microseconds on a VM, more than a whole stage
// of a small decode. Past the first microseconds the polling yields the core to any other runnable thread.
constexpr auto kWorkerSpin = std::chrono::microseconds(300);
constexpr auto kCallerSpin = std::chrono::microseconds(2000);
constexpr int kPauseRounds = 256;  // pause-only polls before yielding

// Polls ready() until it is true (returns true) or `budget` has passed (returns false).
template <typename Ready>
bool poll_for(const Ready& ready, Clock::duration budget) {
  for (int i = 0; i < kPauseRounds; ++i) {
    if (ready()) return true;
    cpu_relax();
  }
  const auto until = Clock::now() + budget;
  for (;;) {
    for (int i = 0; i < 16; ++i) {
      if (ready()) return true;
      std::this_thread::yield();
    }
    if (Clock::now() >= until) return ready();
  }
}

// Workers poll an atomic generation counter for new work, then sleep on a condition variable. A run offers
// `helpers` slots; a worker joins by taking one. When the caller has claimed the last index it closes the
// slots, so it never waits for a worker that has not started yet, only for the ones running an index.
class Pool {
 public:
  explicit Pool(int workers) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_.store(true);
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int workers() const { return int(threads_.size()); }
  std::mutex& busy() { return busy_; }

  // Caller holds busy().
  void run(int n, int helpers, const std::function<void(int)>& fn) {
    fn_ = &fn;
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    slots_.store(helpers, std::memory_order_release);  // publishes fn_, n_, next_ to the slot takers
    gen_.fetch_add(1, std::memory_order_acq_rel);
    {
      std::lock_guard<std::mutex> lk(m_);
      if (sleepers_ > 0) cv_.notify_all();
    }
    drain();
    slots_.exchange(0, std::memory_order_acq_rel);  // nobody joins any more
    auto idle = [this] { return active_.load(std::memory_order_acquire) == 0; };
    if (!poll_for(idle, kCallerSpin)) {
      std::unique_lock<std::mutex> lk(m_);
      caller_waiting_ = true;
      done_cv_.wait(lk, idle);
      caller_waiting_ = false;
    }
    fn_ = nullptr;
    if (error_) {  // an exception in a worker is rethrown in the caller, never std::terminate
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  void drain() {
    const int n = n_;
    for (int i = next_.fetch_add(1); i < n; i = next_.fetch_add(1)) {
      try {
        (*fn_)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lk(m_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }
  void loop() {
    uint64_t seen = gen_.load(std::memory_order_acquire);
    for (;;) {
      auto wake = [&] { return stop_.load() || gen_.load(std::memory_order_acquire) != seen; };
      if (!poll_for(wake, kWorkerSpin)) {
        std::unique_lock<std::mutex> lk(m_);
        ++sleepers_;
        cv_.wait(lk, wake);
        --sleepers_;
      }
      if (stop_.load()) return;
      seen = gen_.load(std::memory_order_acquire);
      // Announce first, then take a slot: once the caller has closed the slots and sees active_ == 0, no
      // worker can still be starting on its run.
      active_.fetch_add(1, std::memory_order_acq_rel);
      int s = slots_.load(std::memory_order_acquire);
      bool joined = false;
      while (s > 0 && !(joined = slots_.compare_exchange_weak(s, s - 1, std::memory_order_acq_rel))) {
      }
      if (joined) drain();
      if (active_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(m_);
        if (caller_waiting_) done_cv_.notify_all();
      }
    }
  }

  std::vector<std::thread> threads_;
  std::mutex m_, busy_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* fn_ = nullptr;
  int n_ = 0;
  std::atomic<int> next_{0}, slots_{0}, active_{0};
  std::atomic<uint64_t> gen_{0};
  std::atomic<bool> stop_{false};
  int sleepers_ = 0;             // guarded by m_
  bool caller_waiting_ = false;  // guarded by m_
  std::exception_ptr error_;     // guarded by m_ while workers run
};

Pool& pool() {
  // Leaked on purpose: joining threads during interpreter shutdown is not worth the risk.
  static Pool* p = new Pool(default_num_threads() - 1);
  return *p;
}

}  // namespace

int default_num_threads() {
  static const int n = [] {
    if (const char* e = std::getenv("HRDECODE_NUM_THREADS")) {
      const int v = std::atoi(e);
      if (v >= 1) return v;
    }
    const unsigned hw = std::thread::hardware_concurrency();
    return hw == 0 ? 1 : int(hw);
  }();
  return n;
}

void parallel_for(int n, int max_threads, const std::function<void(int)>& fn) {
  if (n <= 0) return;
  const int threads = max_threads < 1 ? 1 : max_threads;
  if (n == 1 || threads == 1 || default_num_threads() == 1) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  Pool& p = pool();
  std::unique_lock<std::mutex> lk(p.busy(), std::try_to_lock);
  if (!lk.owns_lock()) {
    for (int i = 0; i < n; ++i) fn(i);
    return;
  }
  int helpers = threads - 1;
  if (helpers > p.workers()) helpers = p.workers();
  if (helpers > n - 1) helpers = n - 1;
  p.run(n, helpers, fn);
}

}  // namespace hrd
