#include "i2v/io/fp8.h"

#include <array>
#include <cmath>
#include <cstring>

namespace i2v::io {
namespace {

struct Layout {
  int mantissa_bits, bias;
  uint8_t max_code;  // largest finite magnitude's bits
};

constexpr Layout layout(Fp8Format f) {
  return f == Fp8Format::E4M3 ? Layout{3, 7, 0x7E} : Layout{2, 15, 0x7B};
}

uint32_t bits_of(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
}

// Rounds a non-negative finite float to the format's magnitude bits (RNE), saturating.
inline uint8_t encode_magnitude(float a, Fp8Format f) {
  const Layout l = layout(f);
  const float min_normal = std::ldexp(1.0f, 1 - l.bias);
  uint32_t code;
  if (a < min_normal) {
    // Subnormal: multiples of 2^(1 - bias - mantissa_bits); rounding may carry into the first
    // normal, whose code is the next integer, so the result stays right.
    const float q = a * std::ldexp(1.0f, l.bias - 1 + l.mantissa_bits);  // exact scaling
    code = static_cast<uint32_t>(std::nearbyint(q));
  } else {
    const uint32_t u = bits_of(a);
    const int drop = 23 - l.mantissa_bits;
    const uint32_t r = (u + ((1u << (drop - 1)) - 1) + ((u >> drop) & 1u)) >> drop;
    code = r - (static_cast<uint32_t>(127 - l.bias) << l.mantissa_bits);
  }
  return static_cast<uint8_t>(code > l.max_code ? l.max_code : code);
}

std::array<float, 256> build_table(Fp8Format f) {
  std::array<float, 256> t{};
  for (int b = 0; b < 256; ++b) t[b] = decode_fp8(static_cast<uint8_t>(b), f);
  return t;
}

}  // namespace

float fp8_max(Fp8Format f) {
  return f == Fp8Format::E4M3 ? 448.0f : 57344.0f;
}

float decode_fp8(uint8_t b, Fp8Format f) {
  const int sign = b >> 7;
  float v;
  if (f == Fp8Format::E4M3) {
    const int exp = (b >> 3) & 0xF, man = b & 0x7;
    if (exp == 0xF && man == 0x7) return std::nanf("");
    v = exp == 0 ? std::ldexp(static_cast<float>(man), -9) : std::ldexp(1.0f + man / 8.0f, exp - 7);
  } else {
    const int exp = (b >> 2) & 0x1F, man = b & 0x3;
    if (exp == 0x1F) {
      v = man ? std::nanf("") : INFINITY;
    } else {
      v = exp == 0 ? std::ldexp(static_cast<float>(man), -16)
                   : std::ldexp(1.0f + man / 4.0f, exp - 15);
    }
  }
  return sign ? -v : v;
}

const float* fp8_table(Fp8Format f) {
  static const std::array<float, 256> e4m3 = build_table(Fp8Format::E4M3);
  static const std::array<float, 256> e5m2 = build_table(Fp8Format::E5M2);
  return f == Fp8Format::E4M3 ? e4m3.data() : e5m2.data();
}

uint8_t encode_fp8(float v, Fp8Format f) {
  if (std::isnan(v)) return 0x7F;  // NaN in both (E4M3 S.1111.111, E5M2 S.11111.11)
  const uint8_t sign = std::signbit(v) ? 0x80 : 0x00;
  return sign | encode_magnitude(std::fabs(v), f);
}

void decode_fp8(const uint8_t* in, float* out, int64_t n, Fp8Format f) {
  const float* table = fp8_table(f);
  for (int64_t i = 0; i < n; ++i) out[i] = table[in[i]];
}

void encode_fp8(const float* in, uint8_t* out, int64_t n, Fp8Format f) {
  for (int64_t i = 0; i < n; ++i) out[i] = encode_fp8(in[i], f);
}

}  // namespace i2v::io
