// What the CPU this process runs on can do, from the cpuid instruction (x86-64; false elsewhere).
#pragma once

namespace i2v::kernels {

bool cpu_has_avx512f();      // AVX-512 Foundation, and the OS keeps the zmm state
bool cpu_has_avx512_bf16();  // AVX512-BF16 (vdpbf16ps): oneDNN's fast bf16 GEMM/conv path
bool cpu_has_amx_bf16();     // AMX-BF16 tiles (Sapphire Rapids and later), and the OS enabled them
// bf16 matrix work is fast here (either of the above): `--precision auto` picks bf16.
bool cpu_has_fast_bf16();

}  // namespace i2v::kernels
