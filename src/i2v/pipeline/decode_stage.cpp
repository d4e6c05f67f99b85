// The VAE decode stage of I2VGenXLPipeline with its own fallback rungs: the latents are decoded in
// chunks of frames; when a chunk's allocation fails, that chunk (and the rest) is decoded with the
// next rung — one frame per call (exact: the VAE is per image), then spatial tiles of decreasing
// size (APPROXIMATE: blended tiles; the result is marked inexact and a warning says so). Frames
// already decoded are kept.
#include <algorithm>

#include <spdlog/spdlog.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "i2v/memory/mapped_weights.h"
#include "i2v/memory/out_of_memory.h"
#include "i2v/models/vae/tiled_vae.h"
#include "i2v/pipeline/pipeline_run.h"

namespace i2v::pipeline {
namespace {

std::string describe(int64_t chunk, const vae::VaeTiling& tiling) {
  std::string s = "decode chunk " + std::to_string(chunk);
  if (tiling.enabled()) s += ", tiles of " + std::to_string(tiling.tile_sample_size) + " px";
  return s;
}

// Decoded video (1, 3, n, H, W) in [-1, 1] -> frames (n, H, W, 3) uint8, as the reference's
// post-processing: x / 2 + 0.5, clamped, times 255, rounded.
at::Tensor to_uint8_frames(const at::Tensor& video) {
  const at::Tensor frames = (video / 2 + 0.5).clamp(0, 1).permute({0, 2, 3, 4, 1});
  return (frames * 255).round().to(at::kByte)[0].contiguous();
}

}  // namespace

at::Tensor I2VGenXLPipeline::decode(const GenerationRequest& r, Run& run,
                                    const at::Tensor& latents) {
  const memory::ExecPlan& plan = run.ladder.plan();
  auto lease = residency_.lease(Model::Vae, plan);  // held across the chunks (and retries)
  const int64_t frames = latents.size(2);
  const int64_t longest = std::max(r.width, r.height);
  int64_t chunk = r.decode_chunk_size;
  vae::VaeTiling tiling{plan.vae_tile, plan.vae_tile_overlap};
  // The next rung after an allocation failure; false when none is left.
  auto next_rung = [&] {
    if (chunk > 1) {
      chunk = 1;
      return true;
    }
    const int64_t current = tiling.enabled() ? tiling.tile_sample_size : longest;
    for (int64_t tile : {1024, 512, 256, 128, 64}) {
      if (tile >= current || tile % vae_scale_factor() != 0) continue;
      tiling.tile_sample_size = tile;
      return true;
    }
    return false;
  };

  // The golden dumps want the whole float video; otherwise only uint8 frames are kept (or none).
  const bool dumping = static_cast<bool>(run.hooks.dump);
  std::vector<at::Tensor> decoded, kept;
  for (int64_t done = 0; done < frames;) {
    const int64_t n = std::min(chunk, frames - done);
    try {
      if (run.hooks.before_attempt)
        run.hooks.before_attempt("vae_decode", static_cast<int>(done + 1), plan);
      memory::ExecPlan rung = plan;
      rung.vae_tile = tiling.tile_sample_size;
      rung.vae_tile_overlap = tiling.overlap;
      const at::Tensor video =
          decode_latents(latents.slice(2, done, done + n), static_cast<int>(n), rung);
      // Post-processing, per element: the same values as on the whole video.
      const at::Tensor u8 = to_uint8_frames(video);
      if (dumping) decoded.push_back(video);
      if (run.hooks.keep_frames || dumping) kept.push_back(u8);
      if (run.hooks.on_frames) run.hooks.on_frames(done, u8);
      done += n;
    } catch (const std::exception& e) {
      const std::string from = describe(chunk, tiling);
      if (!memory::is_out_of_memory(e) || !next_rung()) throw;
      run.ladder.record(
          {"vae_decode", static_cast<int>(done + 1), from, describe(chunk, tiling), e.what()});
      if (tiling.enabled() && !plan.vae_tile) {
        run.approximate = true;
        spdlog::warn(
            "[Memory] VAE decode falls back to {} px tiles: APPROXIMATE, the frames differ "
            "slightly from an untiled decode",
            tiling.tile_sample_size);
      }
      memory::trim_heap();
    }
  }
  if (dumping) {
    const at::Tensor video = at::cat(decoded, 2);
    run.dump("decoded_video", video);
    run.dump("frames_float", (video / 2 + 0.5).clamp(0, 1).permute({0, 2, 3, 4, 1}));
    run.dump("frames_uint8", at::cat(kept).unsqueeze(0));
  }
  if (!run.hooks.keep_frames) return {};
  return at::cat(kept).contiguous();
}

}  // namespace i2v::pipeline
