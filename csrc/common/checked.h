// Overflow-checked size arithmetic for workspace layouts.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hrd {

inline bool checked_mul(std::size_t a, std::size_t b, std::size_t* out) {
  if (a != 0 && b > SIZE_MAX / a) return false;
  *out = a * b;
  return true;
}

inline bool checked_add(std::size_t a, std::size_t b, std::size_t* out) {
  if (b > SIZE_MAX - a) return false;
  *out = a + b;
  return true;
}

}  // namespace hrd
