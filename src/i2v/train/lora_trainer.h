// `i2v train-lora`: LoRA training of the I2VGen-XL UNet on a folder of captioned clips.
//  1. Every clip is read once and turned into what the UNet sees (VAE latents of its frames, the
//     image latents and CLIP embedding of frame 0, the caption's text embeddings); the encoders
//     are then released.
//  2. Each step takes the next clip, draws a timestep (uniform) and noise, and trains on the
//     model's own objective (diffusion_objective.h: v for I2VGen-XL) with AdamW on the adapters
//     only; optionally with gradient checkpointing (exact: the same gradients, less memory).
//  3. Every `save_every` steps, at the end and when stopped (Ctrl-C), it writes the LoRA (diffusers
//     /PEFT layout), the training state for --resume, and the JSON log of loss per step.
// The randomness of step k depends only on (seed, k): a resumed run continues exactly as an
// uninterrupted one.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace i2v::train {

struct TrainLoraOptions {
  std::string model;           // pipeline folder or cached repo id
  std::filesystem::path data;  // training_data.h
  std::filesystem::path out;   // the LoRA .safetensors file
  int64_t rank = 8;
  double alpha = 8;
  int steps = 100;
  double lr = 1e-4;
  double weight_decay = 1e-2;
  std::vector<std::string> targets{"to_q", "to_k", "to_v", "to_out.0"};
  bool gradient_checkpointing = false;
  // Which UNet layers are checkpointed: all, or high-res (those at the full latent size only:
  // most of the memory saved for a fraction of the recompute).
  std::string checkpoint_layers = "all";
  std::string precision = "bf16";  // bf16 | fp32
  int frames = 8, width = 256, height = 256;
  int target_fps = 16;
  int save_every = 50;  // steps between checkpoints (0: only at the end)
  bool resume = false;  // continue from <out>.state.safetensors
  uint64_t seed = 0;
};

// Files a run writes beside `out`.
std::filesystem::path training_state_path(const std::filesystem::path& out);  // <out>.state...
std::filesystem::path training_log_path(const std::filesystem::path& out);    // <stem>.log.json

struct TrainStepInfo {
  int step = 0, steps = 0;
  double loss = 0;
  int64_t timestep = 0;
  double seconds = 0;  // this step's wall time
};

struct TrainLoraReport {
  int first_step = 1;          // > 1 when resumed
  int steps_done = 0;          // the last completed step
  bool stopped = false;        // by the stop flag, before `steps`
  std::vector<double> losses;  // of the steps this call ran
  // Loss on fixed samples of the first clip (4 timesteps spread over the schedule, fixed noise),
  // before this call's first step and after its last: the training loss itself swings with the
  // random timestep, this one shows progress.
  double eval_loss_before = 0, eval_loss_after = 0;
  int64_t modules = 0, parameters = 0;
  double seconds_per_step = 0;  // median of this call's steps
  int64_t peak_rss_bytes = 0;   // the whole process (the encoders' stage included)
  // The training steps' own memory: RSS once the model is loaded and has run (its weights
  // resident), and the sampled RSS peak during the steps. Their difference is what training
  // costs above the weights: activations kept for the backward, gradients, optimizer state.
  int64_t rss_before_steps_bytes = 0, peak_rss_steps_bytes = 0;
};

// ConfigError for bad options, data or resume state; IoError / FormatError for unreadable files.
TrainLoraReport train_lora(const TrainLoraOptions& options,
                           const std::function<void(const TrainStepInfo&)>& on_step = {},
                           const std::atomic<bool>* stop = nullptr);

}  // namespace i2v::train
