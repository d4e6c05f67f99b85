#include "i2v/models/vae/decode_frames.h"

#include <sstream>
#include <vector>

#include "i2v/error.h"

namespace i2v::vae {

at::Tensor decode_frames(AutoencoderKLImpl& vae, const at::Tensor& z, int64_t chunk,
                         const VaeTiling& tiling) {
  if (chunk < 1)
    throw ConfigError("decode_frames: decode chunk size must be at least 1, got " +
                      std::to_string(chunk));
  if (!z.defined() || z.dim() != 5 || z.size(1) != vae.config().latent_channels) {
    std::ostringstream s;
    if (z.defined()) s << z.sizes();
    throw ShapeError("decode_frames: latents must be (B, " +
                     std::to_string(vae.config().latent_channels) + ", F, h, w), got " +
                     (z.defined() ? s.str() : std::string("an undefined tensor")));
  }
  const int64_t b = z.size(0), f = z.size(2);
  // (B, C, F, h, w) -> (B * F, C, h, w), frame-major within each batch element.
  at::Tensor images = z.permute({0, 2, 1, 3, 4}).flatten(0, 1);
  std::vector<at::Tensor> decoded;
  for (int64_t start = 0; start < images.size(0); start += chunk)
    decoded.push_back(
        decode_tiled(vae, images.slice(0, start, std::min(start + chunk, images.size(0))), tiling));
  at::Tensor video = decoded.size() == 1 ? decoded[0] : at::cat(decoded, 0);
  // (B * F, 3, H, W) -> (B, 3, F, H, W)
  return video.reshape({b, f, video.size(1), video.size(2), video.size(3)})
      .permute({0, 2, 1, 3, 4});
}

}  // namespace i2v::vae
