// Scratch vectors that grow to the largest size seen and are then reused (never shrink), so a decoder
// that has seen its largest frame allocates nothing more.
#pragma once
#include <cstddef>
#include <vector>

namespace hrd {

template <typename T>
inline void ensure(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
}

}  // namespace hrd
