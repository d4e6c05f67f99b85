#include "i2v/memory/estimator.h"

#include <algorithm>

namespace i2v::memory {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

}  // namespace

Shapes Shapes::of(int64_t width, int64_t height, int64_t frames, double guidance,
                  int64_t element_bytes, int64_t decode_chunk, bool gpu) {
  Shapes s;
  s.width = width;
  s.height = height;
  s.frames = frames;
  s.cfg = guidance > 1.0;
  s.element_bytes = element_bytes;
  s.decode_chunk = decode_chunk;
  s.gpu = gpu;
  return s;
}

int64_t runtime_baseline_bytes() {
  return 330 * kMiB;  // i2v binary + libtorch + oneDNN + heap at rest (measured, bf16 CPU)
}

int64_t gpu_workspace_bytes() {
  return 512 * kMiB;
}

namespace {

// Weights on the GPU per stage: every component once staged (resident), the stage's own
// (on-demand), or for the UNet under streaming the small rest plus two blocks (the one running
// and the one being prefetched). Staged copies are in the compute dtype.
std::map<std::string, int64_t> gpu_weights(const ModelFacts& m, const ExecPlan& plan) {
  const double cast = m.unet_staged_block_bytes > 0 && m.unet_block_bytes > 0
                          ? static_cast<double>(m.unet_staged_block_bytes) / m.unet_block_bytes
                          : 1.0;
  const int64_t unet =
      m.unet_rest_bytes +
      static_cast<int64_t>(static_cast<double>(m.unet_bytes - m.unet_rest_bytes) * cast);
  const int64_t block =
      m.unet_staged_block_bytes > 0 ? m.unet_staged_block_bytes : m.unet_block_bytes;
  const int64_t all = m.text_bytes + m.image_bytes + m.vae_bytes + unet;
  const bool resident =
      plan.residency == Residency::Resident || plan.residency == Residency::Packed;
  std::map<std::string, int64_t> w;
  w["text"] = resident ? all : m.text_bytes;
  w["image"] = resident ? all : m.image_bytes;
  w["vae_encode"] = resident ? all : m.vae_bytes;
  w["unet"] = plan.residency == Residency::StreamBlocks ? m.unet_rest_bytes + 2 * block
              : resident                                ? all
                                                        : unet;
  w["vae_decode"] = resident ? all : m.vae_bytes;
  return w;
}

// Host RSS of weights per stage: each stage's component mapped (streaming: the encoders' rest and
// one layer); during the UNet stage the
// UNet (streaming: about one block, plus a staged cast copy when the files need one) and half the
// VAE's pages still resident from the encode.
std::map<std::string, int64_t> host_weights(const ModelFacts& m, const Shapes& s,
                                            const ExecPlan& plan) {
  const bool streaming = plan.residency == Residency::StreamBlocks;
  // Packed: each weight's packed copy replaces its mapped pages, plus what packing adds.
  const int64_t packed_extra =
      plan.residency == Residency::Packed ? packed_weights_extra_bytes(m) : 0;
  // Packed copies the Generator keeps: resident after the UNet stage, and before it when held
  // from an earlier generation.
  const int64_t kept = plan.residency == Residency::Packed && (s.packed_kept || s.packed_held)
                           ? m.unet_bytes + packed_extra
                           : 0;
  const int64_t before = s.packed_held ? kept : 0;
  const int64_t unet = (streaming ? m.unet_block_bytes + 64 * kMiB : m.unet_bytes) +
                       m.unet_staged_block_bytes + (streaming ? 0 : m.vae_bytes / 2) + packed_extra;
  // Streaming runs the encoders layer by layer (ModelResidency::Layered).
  const auto encoder = [streaming](int64_t whole, int64_t streamed) {
    return streaming && streamed > 0 ? streamed : whole;
  };
  return {{"text", encoder(m.text_bytes, m.text_stream_bytes) + before},
          {"image", encoder(m.image_bytes, m.image_stream_bytes) + before},
          {"vae_encode", m.vae_bytes + before},
          {"unet", unet},
          {"vae_decode", m.vae_bytes + kept}};
}

}  // namespace

int64_t packed_weights_extra_bytes(const ModelFacts& m) {
  // Measured on the real architecture, bf16 256x256x8: peak +0.37 GB over plain for 2.84 GB of
  // UNet weights. The VAE's packed copies stay through the UNet stage (where plain plans count
  // half of its mapped pages).
  return m.unet_bytes / 7 + m.vae_bytes / 2;
}

Estimate estimate(const ModelFacts& m, const Shapes& s, const ExecPlan& plan) {
  Estimate e;
  const int64_t eb = s.element_bytes;
  const int64_t h0 = s.height / m.vae_scale, w0 = s.width / m.vae_scale;
  const int64_t batch = s.cfg && !plan.sequential_cfg ? 2 : 1;
  const int64_t unet_frames = s.unet_frames > 0 ? std::min(s.unet_frames, s.frames) : s.frames;
  const int64_t n = batch * unet_frames;  // rows of per-frame layers
  const int64_t levels = static_cast<int64_t>(m.unet_channels.size());

  // Skips kept for the up path (compute dtype), computed exactly.
  int64_t skips = n * m.unet_channels.front() * h0 * w0 * eb;  // conv_in output
  int64_t hl = h0, wl = w0;
  for (int64_t l = 0; l < levels; ++l) {
    const int64_t c = m.unet_channels[l];
    skips += m.unet_layers_per_block * n * c * hl * wl * eb;
    if (l + 1 < levels) skips += n * c * ((hl + 1) / 2) * ((wl + 1) / 2) * eb;
    hl = (hl + 1) / 2;
    wl = (wl + 1) / 2;
  }
  // The transient tensors of the largest layer, in units of one level-0 activation
  // (rows x positions x channels): k_compute elements in the compute dtype plus k_f32 float32
  // temporaries (the GroupNorms). Fitted per kind of plan to counted peaks of the golden tiny
  // model (fp32, bench grid of tests/memory) and of the real architecture (bf16, 256x256x8).
  // Plain: 20 before the transformer blocks added their residuals in place (round five).
  double k_compute = 18.5, k_f32 = 0.0;  // plain: everything at once
  if (plan.residency == Residency::StreamBlocks || (plan.sequential_cfg && plan.frame_chunk == 1)) {
    k_compute = 0.0;
    k_f32 = 5.8;
  } else if (plan.sequential_cfg) {
    k_compute = 1.64;
    k_f32 = 5.8;
  } else if (plan.frame_chunk > 0 || plan.temporal_chunk > 0) {
    k_compute = 6.45;
    k_f32 = 5.8;
  }
  const double level0 = static_cast<double>(n * h0 * w0 * m.unet_channels.front());
  const int64_t transient = static_cast<int64_t>(level0 * (k_compute * eb + k_f32 * 4));
  e.unet_activations = skips + transient + 6 * kMiB;
  // Frame windows: the whole video's latents, the fused prediction and its sums (float32).
  if (unet_frames < s.frames) e.unet_activations += 6 * s.frames * m.unet_in_channels * h0 * w0 * 4;

  const std::map<std::string, int64_t> weights =
      s.gpu ? gpu_weights(m, plan) : host_weights(m, s, plan);
  e.stage["text"] = weights.at("text") + 40 * kMiB;
  e.stage["image"] = weights.at("image") + m.image_tokens * m.image_dim * 4 * 24 + 40 * kMiB;
  // VAE encode of one frame at full resolution: the largest encoder level in float32 terms.
  // Tiled: one tile's worth at a time (plus the output and overlap strips, small).
  const int64_t pix = s.width * s.height;
  const int64_t work_pix =
      plan.vae_tile > 0 ? std::min(s.width, plan.vae_tile) * std::min(s.height, plan.vae_tile)
                        : pix;
  e.stage["vae_encode"] =
      weights.at("vae_encode") + work_pix * m.vae_channels.front() * (eb * 3 + 8);
  e.stage["unet"] = weights.at("unet") + e.unet_activations;
  const int64_t chunk = s.decode_chunk;
  const int64_t frames_at_once = std::min<int64_t>(std::max<int64_t>(1, chunk), s.frames);
  // Decoder: the last up level (channels[0] at full resolution) with GroupNorm in float32; each
  // chunk's decoded frames in float32 (and their post-processing) while it becomes uint8; the
  // uint8 frames accumulating (twice: chunks, then joined) unless they are streamed out.
  const int64_t kept = s.stream_frames ? 0 : 2;
  e.stage["vae_decode"] = weights.at("vae_decode") +
                          frames_at_once * work_pix * m.vae_channels.front() * (3 * eb + 8) +
                          frames_at_once * pix * 3 * 4 * 3 + s.frames * pix * 3 * kept;
  int64_t top = 0;
  for (const auto& [name, bytes] : e.stage) top = std::max(top, bytes);
  e.peak = (s.gpu ? gpu_workspace_bytes() : runtime_baseline_bytes()) + top;
  return e;
}

}  // namespace i2v::memory
