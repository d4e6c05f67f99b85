#include "i2v/memory/estimator.h"

#include <algorithm>

namespace i2v::memory {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

// Transient bytes of one UNet layer group at a level: rows x channels x positions elements
// times a per-layer factor, in units of (compute element + float32 temporaries).
struct LayerCost {
  double resnet, spatial, temporal_conv, temporal_attn;
};

}  // namespace

int64_t runtime_baseline_bytes() {
  return 330 * kMiB;  // i2v binary + libtorch + oneDNN + heap at rest (measured, bf16 CPU)
}

Estimate estimate(const ModelFacts& m, const Shapes& s, const ExecPlan& plan) {
  Estimate e;
  const int64_t eb = s.element_bytes;
  const int64_t h0 = s.height / m.vae_scale, w0 = s.width / m.vae_scale;
  const int64_t batch = s.cfg && !plan.sequential_cfg ? 2 : 1;
  const int64_t n = batch * s.frames;  // rows of per-frame layers
  const int64_t rows = plan.frame_chunk > 0 ? std::min(plan.frame_chunk, n) : n;
  const int64_t levels = static_cast<int64_t>(m.unet_channels.size());

  // Skips kept for the up path (compute dtype) and the largest transient of any layer.
  int64_t skips = n * m.unet_channels.front() * h0 * w0 * eb;  // conv_in output
  int64_t transient = 0;
  int64_t hl = h0, wl = w0;
  for (int64_t l = 0; l < levels; ++l) {
    const int64_t c = m.unet_channels[l];
    const int64_t hw = hl * wl;
    skips += m.unet_layers_per_block * n * c * hw * eb;
    if (l + 1 < levels) skips += n * c * ((hl + 1) / 2) * ((wl + 1) / 2) * eb;
    // Up-path layers see the concatenation of the hidden state and a skip (about 2c channels).
    const int64_t cin = 2 * c;
    // ResNet: input, float32 GroupNorm output and SiLU, conv output, residual.
    const int64_t resnet = rows * hw * (cin * (eb + 8) + 2 * c * eb);
    // Spatial transformer: norm (f32), proj_in, q/k/v, attention output, feed-forward block.
    const int64_t spatial =
        rows * hw * c * (4 + 6 * eb) + 2 * 4 * (int64_t{1} << 20) + 4 * (int64_t{1} << 22);
    // Temporal layers over all n rows, or the plan's position chunk of every frame.
    const int64_t tpos = plan.temporal_chunk > 0 ? std::min<int64_t>(plan.temporal_chunk, hw) : hw;
    const int64_t temporal = n * c * hw * eb + n * c * tpos * (8 + 3 * eb);
    const int64_t temporal_attn = n * c * hw * eb + n * c * tpos * (4 + 8 * eb);
    transient = std::max({transient, resnet, spatial, temporal, temporal_attn});
    hl = (hl + 1) / 2;
    wl = (wl + 1) / 2;
  }
  // The hidden state itself (largest level output) stays alive beside the transient.
  const int64_t hidden = n * m.unet_channels.front() * h0 * w0 * eb * 2;
  e.unet_activations = skips + transient + hidden;

  const int64_t unet_weights =
      plan.residency == Residency::StreamBlocks ? m.unet_block_bytes + 64 * kMiB : m.unet_bytes;
  e.stage["text"] = m.text_bytes + 40 * kMiB;
  e.stage["image"] = m.image_bytes + m.image_tokens * m.image_dim * 4 * 24 + 40 * kMiB;
  // VAE encode of one frame at full resolution: the largest encoder level in float32 terms.
  const int64_t pix = s.width * s.height;
  e.stage["vae_encode"] = m.vae_bytes + pix * m.vae_channels.front() * (eb * 3 + 8);
  e.stage["unet"] = unet_weights + e.unet_activations +
                    (plan.residency == Residency::StreamBlocks ? 0 : m.vae_bytes / 2);
  const int64_t chunk = plan.vae_decode_chunk > 0 ? plan.vae_decode_chunk : s.decode_chunk;
  const int64_t frames_at_once = std::min<int64_t>(std::max<int64_t>(1, chunk), s.frames);
  // Decoder: the last up level (channels[0] at full resolution) with GroupNorm in float32, the
  // decoded video (float32) accumulating.
  e.stage["vae_decode"] = m.vae_bytes +
                          frames_at_once * pix * m.vae_channels.front() * (3 * eb + 8) +
                          s.frames * pix * 3 * 4 * 2;
  int64_t top = 0;
  for (const auto& [name, bytes] : e.stage) top = std::max(top, bytes);
  e.peak = runtime_baseline_bytes() + top;
  return e;
}

}  // namespace i2v::memory
