#include "i2v/quant/quantize.h"

#include <string>

#include "i2v/error.h"
#include "i2v/io/fp8.h"

namespace i2v::quant {

QuantizedTensor quantize_per_channel(const at::Tensor& w, WeightFormat format) {
  if (!w.defined() || w.dim() < 2 || !w.is_floating_point()) {
    throw ShapeError(
        "per-channel quantization needs a floating-point weight with at least two "
        "dimensions");
  }
  const int64_t rows = w.size(0);
  at::Tensor rows_f32 = w.to(at::kCPU, at::kFloat).contiguous().view({rows, -1});
  if (!at::isfinite(rows_f32).all().item<bool>())
    throw ShapeError("cannot quantize a weight holding NaN or infinite values");
  at::Tensor amax = std::get<0>(rows_f32.abs().max(1));
  at::Tensor scale = at::where(amax > 0, amax / max_magnitude(format), at::ones_like(amax));
  at::Tensor scaled = (rows_f32 / scale.unsqueeze(1)).contiguous();
  QuantizedTensor out;
  out.scale = scale.contiguous();
  if (format == WeightFormat::Int8) {
    out.q = scaled.round().clamp(-127, 127).to(at::kChar).view(w.sizes());  // round: half to even
  } else {
    at::Tensor bits = at::empty(scaled.sizes(), at::kByte);
    io::encode_fp8(scaled.data_ptr<float>(), bits.data_ptr<uint8_t>(), scaled.numel(),
                   fp8_format(format));
    out.q = bits.view(w.sizes());
  }
  return out;
}

}  // namespace i2v::quant
