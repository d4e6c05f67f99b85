#include "i2v/quant/weight_format.h"

#include "i2v/error.h"

namespace i2v::quant {

std::string to_string(WeightFormat f) {
  switch (f) {
    case WeightFormat::Int8:
      return "int8";
    case WeightFormat::Fp8E4M3:
      return "fp8-e4m3";
    case WeightFormat::Fp8E5M2:
      break;
  }
  return "fp8-e5m2";
}

WeightFormat parse_weight_format(const std::string& s) {
  for (WeightFormat f : {WeightFormat::Int8, WeightFormat::Fp8E4M3, WeightFormat::Fp8E5M2})
    if (s == to_string(f)) return f;
  throw ConfigError("unknown 8-bit weight format '" + s + "' (choose int8, fp8-e4m3 or fp8-e5m2)");
}

io::StDType stored_dtype(WeightFormat f) {
  switch (f) {
    case WeightFormat::Int8:
      return io::StDType::I8;
    case WeightFormat::Fp8E4M3:
      return io::StDType::F8_E4M3;
    case WeightFormat::Fp8E5M2:
      break;
  }
  return io::StDType::F8_E5M2;
}

std::optional<WeightFormat> format_of(io::StDType t) {
  switch (t) {
    case io::StDType::I8:
      return WeightFormat::Int8;
    case io::StDType::F8_E4M3:
      return WeightFormat::Fp8E4M3;
    case io::StDType::F8_E5M2:
      return WeightFormat::Fp8E5M2;
    default:
      return std::nullopt;
  }
}

io::Fp8Format fp8_format(WeightFormat f) {
  if (f == WeightFormat::Int8) throw ConfigError("int8 is not an fp8 format");
  return f == WeightFormat::Fp8E4M3 ? io::Fp8Format::E4M3 : io::Fp8Format::E5M2;
}

float max_magnitude(WeightFormat f) {
  return f == WeightFormat::Int8 ? 127.0f : io::fp8_max(fp8_format(f));
}

}  // namespace i2v::quant
