// What the CPU the process runs on can do, for code with a build per instruction set chosen at run time.
#pragma once
#include <cstdlib>
#include <cstring>

namespace hrd {

// AVX2 is used when the CPU and the OS support it, unless HRDECODE_SIMD=sse2 (tests compare both builds).
inline bool cpu_has_avx2() {
  static const bool yes = [] {
    const char* e = std::getenv("HRDECODE_SIMD");
    if (e && std::strcmp(e, "sse2") == 0) return false;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
#else
    return false;
#endif
  }();
  return yes;
}

}  // namespace hrd
