// ExecPlan: how one generation runs — exact chunking, CFG order, VAE tiling, weight residency.
// One value travels with the forward pass (UNet, VAE); layers read it. The one layer limit kept
// process-wide (nn/chunking.h's attention score budget) is overridden only for the duration of a
// forward pass (nn::ScopedAttentionScoreBudget), so no plan leaks into the next generation. Every
// chunking mode here is exact: the result equals the plain path within float rounding
// (tests/memory proves each one); the VAE tiling is the one approximate mode.
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

namespace i2v::memory {

// Where the weights live while a generation runs.
// Weights always have a home in host memory (the mapped files in their stored precision, or
// pinned copies on a GPU); the residency says what is staged where the compute runs.
enum class Residency {
  // Every component mapped (or, on a GPU, staged on the device once and kept there); encoders'
  // pages are released after their outputs exist (they fault back in from the page cache).
  Resident,
  // GPU: each model is moved onto the device only while its stage runs (the UNet for the whole
  // denoising loop). On CPU the same as Resident: mapped weights cost nothing until read.
  OnDemand,
  // CPU: only the UNet block in use keeps its weight pages; each block's pages are dropped after
  // its forward (re-read from the page cache next step). GPU: block-by-block streaming from
  // pinned host memory, the next block copied on a side stream while the current one computes.
  StreamBlocks,
  // CPU with bf16 compute: as Resident, and each UNet weight is reordered into the blocked layout
  // of i2v's oneDNN kernels at its first use and the copy kept for the whole denoising loop
  // (kernels/packed_weights.h) instead of being reordered at every call; its mapped pages are
  // dropped as it is packed, so the copy takes their place. Exact: the same products run on the
  // same packed bytes. A GPU treats it as Resident.
  Packed,
};
std::string to_string(Residency r);
// "resident" | "on-demand" | "stream" | "packed"; ConfigError otherwise.
Residency parse_residency(const std::string& s);

struct ExecPlan {
  std::string name = "plain";  // label shown by probe and recorded in metadata
  // Rows of (batch x frames) that per-frame layers (ResNet blocks, spatial transformers, up/down
  // samplers, conv_in/out) process at once; 0 = all.
  int64_t frame_chunk = 0;
  // Spatial positions that temporal layers (temporal convs, temporal transformers) process at
  // once, with their GroupNorm statistics over all frames and positions computed first; 0 = all.
  int64_t temporal_chunk = 0;
  // Float32 attention scores per block (query-row chunking, nn::ScopedAttentionScoreBudget while
  // the UNet runs); 0 = the library default.
  int64_t attention_score_budget = 0;
  // Classifier-free guidance as two UNet passes (unconditional, then conditional) of batch 1
  // instead of one pass of batch 2.
  bool sequential_cfg = false;
  // Tiled VAE encode/decode (vae/tiled_vae.h): tile edge in pixels, 0 = off. APPROXIMATE (tiles
  // are blended), the one mode here that changes the result; never chosen by the planner.
  int64_t vae_tile = 0;
  double vae_tile_overlap = 0.25;
  Residency residency = Residency::Resident;

  // Whether this plan gives the plain plan's video (within float rounding).
  bool exact() const { return vae_tile == 0; }

  nlohmann::json to_json() const;
  static ExecPlan from_json(const nlohmann::json& j);
  bool operator==(const ExecPlan& o) const { return to_json() == o.to_json(); }
};

// Called around each top-level block of a network's forward (weight streaming, per-block casts).
struct BlockHooks {
  std::function<void(torch::nn::Module&)> before, after;
};

// Runs fn(begin, end) over [0, n) in pieces of at most `chunk` (0 = one piece) and concatenates
// the results along dim 0.
at::Tensor map_rows(int64_t n, int64_t chunk,
                    const std::function<at::Tensor(int64_t, int64_t)>& fn);

}  // namespace i2v::memory
