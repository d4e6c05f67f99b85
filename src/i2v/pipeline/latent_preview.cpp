#include "i2v/pipeline/latent_preview.h"

#include <algorithm>

#include "i2v/error.h"

namespace i2v::pipeline {

at::Tensor latent_preview_rgb(const at::Tensor& latents, int min_side) {
  if (latents.dim() != 5) throw ShapeError("preview latents must be (B, C, F, h, w)");
  at::Tensor x = latents.index({0, at::indexing::Slice(), 0}).to(at::kFloat);  // (C, h, w)
  at::Tensor rgb;
  if (x.size(0) == 4) {
    // Stable Diffusion's latent -> RGB factors (the VAE I2VGen-XL shares), giving about [-1, 1].
    at::Tensor f = at::tensor({0.3512f, 0.2297f, 0.3227f, 0.3250f, 0.4974f, 0.2350f, -0.2829f,
                               0.1762f, 0.2721f, -0.2120f, -0.2616f, -0.7177f})
                       .view({4, 3});
    rgb = at::einsum("chw,cr->hwr", {x, f});
  } else {
    at::Tensor c = x.index({at::indexing::Slice(0, std::min<int64_t>(3, x.size(0)))});
    while (c.size(0) < 3) c = at::cat({c, c.index({at::indexing::Slice(0, 1)})});
    rgb = c.permute({1, 2, 0}) / 2.0;
  }
  rgb = ((rgb + 1.0) * 127.5).clamp(0, 255).to(at::kByte);
  int64_t side = std::max(rgb.size(0), rgb.size(1));
  int64_t factor = std::max<int64_t>(1, (min_side + side - 1) / side);
  if (factor > 1) {
    rgb = rgb.repeat_interleave(factor, 0).repeat_interleave(factor, 1);
  }
  return rgb.contiguous();
}

}  // namespace i2v::pipeline
