// What one generation asks the pipeline for, and what it gives back (the library's inside view;
// front ends use the public i2v/i2v.h).
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "i2v/image/rgb_image.h"
#include "i2v/lora/adapter_set.h"
#include "i2v/lora/attachment.h"
#include "i2v/memory/exec_plan.h"
#include "i2v/memory/fallback_ladder.h"
#include "i2v/memory/memory_log.h"
#include "i2v/pipeline/frame_windows.h"

namespace i2v::pipeline {

struct GenerationRequest {
  image::RgbImage image;
  std::string prompt;
  std::string negative_prompt;
  int width = 512, height = 512;  // pixels; multiples of the VAE's downscale factor
  int num_frames = 16;
  int target_fps = 16;  // the fps condition given to the UNet
  int num_inference_steps = 50;
  double guidance_scale = 9.0;  // <= 1 disables classifier-free guidance
  int64_t seed = 0;
  // Frames per VAE decode call; on out-of-memory the decode moves to 1, then to tiles.
  int decode_chunk_size = 1;
  // Sliding frame windows for videos longer than the model's clips (APPROXIMATE, frame_windows.h);
  // length 0 = the UNet sees every frame.
  FrameWindows windows;
  // How to run (exact chunking, CFG order, weight residency) and the cheaper plans to move to,
  // in order, when an allocation fails (the fallback ladder: only the failing piece is redone).
  memory::ExecPlan plan;
  std::vector<memory::ExecPlan> fallback;
  // Replay of a reference run: the noise to use instead of drawing it (initial_noise
  // (1, C, F, h, w) and vae_posterior_noise (1, C, h, w)); undefined tensors are drawn.
  at::Tensor initial_noise, vae_posterior_noise;
  // LoRA adapters (lora::resolve against lora_targets()) put onto the UNet and the text encoder
  // for this generation only; null = none.
  std::shared_ptr<const lora::AdapterSet> loras;
  lora::Mode lora_mode = lora::Mode::Auto;
};

struct StepProgress {
  int step = 0, total = 0;  // 1-based step just finished
  double seconds = 0;       // of this step
  // The latents after this step (B, C, F, h, w) and the scheduler's x0 prediction in the same
  // layout: what a front end decodes for a live preview.
  at::Tensor latents, predicted_original;
};

struct GenerationHooks {
  std::function<void(const StepProgress&)> on_step;
  std::function<bool()> cancelled;  // polled between steps; true stops with CancelledError
  // Every intermediate under the golden names (prompt_embeds, image_latents, stepK.latents ...).
  std::function<void(const std::string&, const at::Tensor&)> dump;
  // Memory log (per-step lines, stage peaks); when null the pipeline keeps its own, without file.
  memory::MemoryLog* memory_log = nullptr;
  // Called before every attempt of a piece of work the fallback ladder guards — stage "text",
  // "image", "vae_encode", "unet" (step = denoising step, 1-based), "vae_decode" (step = first
  // frame of the chunk, 1-based) — with the plan in use: tests inject an allocation failure here by
  // throwing memory::BudgetExceededError.
  std::function<void(const std::string& stage, int step, const memory::ExecPlan&)> before_attempt;
  // Streaming output: the final frames (n, H, W, 3) uint8 as soon as each decode chunk is done,
  // in order, with the index of the first. With keep_frames false the result holds no frames
  // (a long video is never held whole; only on_frames sees them).
  std::function<void(int64_t first, const at::Tensor& frames)> on_frames;
  bool keep_frames = true;
};

struct GenerationResult {
  at::Tensor frames;  // (F, H, W, 3) uint8; undefined when the hooks did not keep them
  std::map<std::string, double> stage_seconds;
  memory::ExecPlan final_plan;                // the plan the last step ran with
  std::vector<memory::Downgrade> downgrades;  // every move down the ladder, in order
  bool exact = true;  // false when an approximate mode ran (tiled VAE, planned or as a fallback)
  nlohmann::json stage_memory;  // per stage: counted peak, RSS peak, RSS at the end
  std::map<std::string, std::string> lora_modes;  // per adapted model: merged / unmerged
};

}  // namespace i2v::pipeline
