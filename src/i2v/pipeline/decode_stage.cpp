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

  std::vector<at::Tensor> parts;
  for (int64_t done = 0; done < frames;) {
    const int64_t n = std::min(chunk, frames - done);
    try {
      if (run.hooks.before_attempt)
        run.hooks.before_attempt("vae_decode", static_cast<int>(done + 1), plan);
      memory::ExecPlan rung = plan;
      rung.vae_tile = tiling.tile_sample_size;
      rung.vae_tile_overlap = tiling.overlap;
      parts.push_back(decode_latents(latents.slice(2, done, done + n), static_cast<int>(n), rung));
      done += n;
    } catch (const std::exception& e) {
      const std::string from = describe(chunk, tiling);
      if (!memory::is_out_of_memory(e) || !next_rung()) throw;
      run.ladder.record(
          {"vae_decode", static_cast<int>(done + 1), from, describe(chunk, tiling), e.what()});
      if (tiling.enabled() && !plan.vae_tile) {
        run.approximate_fallback = true;
        spdlog::warn(
            "[Memory] VAE decode falls back to {} px tiles: APPROXIMATE, the frames differ "
            "slightly from an untiled decode",
            tiling.tile_sample_size);
      }
      memory::trim_heap();
    }
  }
  return at::cat(parts, 2);
}

}  // namespace i2v::pipeline
