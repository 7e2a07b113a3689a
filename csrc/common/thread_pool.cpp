#include "common/thread_pool.h"

#include <atomic>
#include <condition_variable>
#include <exception>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace hrd {
namespace {

class Pool {
 public:
  explicit Pool(int workers) {
    for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  int workers() const { return int(threads_.size()); }
  std::mutex& busy() { return busy_; }

  // Caller holds busy().
  void run(int n, int helpers, const std::function<void(int)>& fn) {
    {
      std::lock_guard<std::mutex> lk(m_);
      fn_ = &fn;
      n_ = n;
      next_.store(0);
      wanted_ = helpers;
      active_ = 0;
      ++generation_;
    }
    cv_.notify_all();
    drain();
    std::unique_lock<std::mutex> lk(m_);
    done_cv_.wait(lk, [this] { return active_ == 0 && wanted_ == 0; });
    fn_ = nullptr;
    if (error_) {  // an exception in a worker is rethrown in the caller, never std::terminate
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  void drain() {
    for (int i = next_.fetch_add(1); i < n_; i = next_.fetch_add(1)) {
      try {
        (*fn_)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lk(m_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }
  void loop() {
    unsigned long seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lk(m_);
        cv_.wait(lk, [&] { return stop_ || (generation_ != seen && wanted_ > 0); });
        if (stop_) return;
        seen = generation_;
        --wanted_;
        ++active_;
      }
      drain();
      {
        std::lock_guard<std::mutex> lk(m_);
        --active_;
      }
      done_cv_.notify_all();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex m_, busy_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* fn_ = nullptr;
  int n_ = 0, wanted_ = 0, active_ = 0;
  std::atomic<int> next_{0};
  unsigned long generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
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
