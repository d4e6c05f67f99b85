#include "i2v/kernels/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace i2v::kernels {
namespace {

#if defined(__x86_64__) || defined(__i386__)
bool cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
  if (static_cast<unsigned>(__get_cpuid_max(0, nullptr)) < leaf) return false;
  __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
  return true;
}

// XCR0 bits the OS saves on context switch: AVX-512 state (5,6,7) and AMX tile state (17,18).
unsigned long long xcr0() {
  unsigned r[4];
  if (!cpuid(1, 0, r) || !(r[2] & (1u << 27))) return 0;  // no OSXSAVE
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}
#endif

}  // namespace

bool cpu_has_avx512f() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned r[4];
  if (!cpuid(7, 0, r) || !(r[1] & (1u << 16))) return false;  // AVX512F
  return (xcr0() & 0xe6) == 0xe6;                             // OS keeps zmm state
#else
  return false;
#endif
}

bool cpu_has_avx512_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned r[4];
  if (!cpu_has_avx512f()) return false;
  return cpuid(7, 1, r) && (r[0] & (1u << 5));  // AVX512_BF16
#else
  return false;
#endif
}

bool cpu_has_amx_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned r[4];
  if (!cpuid(7, 0, r) || !(r[3] & (1u << 22))) return false;  // AMX-BF16
  return (xcr0() & 0x60000) == 0x60000;                       // XTILECFG + XTILEDATA
#else
  return false;
#endif
}

bool cpu_has_fast_bf16() {
  return cpu_has_avx512_bf16() || cpu_has_amx_bf16();
}

}  // namespace i2v::kernels
