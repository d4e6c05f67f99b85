// I2VGenXLPipeline: diffusers' I2VGenXLPipeline as stages with explicit inputs and outputs —
// tokenize and encode the prompts, encode the image with CLIP and with the VAE, draw the noise,
// denoise (classifier-free guidance in [unconditional, conditional] order, DDIM), decode the
// latents in frame chunks, post-process to uint8 frames. Each stage holds a lease on its model's
// weights (model_residency.h) and runs under the fallback ladder (memory/fallback_ladder.h).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "i2v/error.h"
#include "i2v/image/model_inputs.h"
#include "i2v/lora/adapter_set.h"
#include "i2v/memory/exec_plan.h"
#include "i2v/models/unet/unet_config.h"
#include "i2v/pipeline/model_residency.h"
#include "i2v/pipeline/request.h"
#include "i2v/weights/model_dir.h"
#include "i2v/weights/weight_files.h"

namespace i2v::text {
class ClipTokenizer;
}
namespace i2v::schedulers {
class DDIMScheduler;
}
namespace i2v::vae {
class AutoencoderKLImpl;
}
namespace i2v::unet {
class I2VGenXLUNetImpl;
struct UNetInputs;
}  // namespace i2v::unet

namespace i2v::pipeline {

struct PipelineOptions {
  // Compute precision of the networks: fp32 or bf16 (fp16 on CUDA only).
  at::ScalarType dtype = at::kFloat;
  weights::VariantMode variant = weights::VariantMode::Auto;
  // Where the networks compute. Weights keep their home in host memory; the plan's residency
  // says what is staged on the device (ModelResidency). ConfigError when unavailable.
  at::Device device = at::kCPU;
};

class I2VGenXLPipeline {
 public:
  // Loads every component of a diffusers I2VGenXLPipeline folder (or cached repo id), each with
  // a strict load (so a bad file fails here, not in the middle of a run).
  static std::unique_ptr<I2VGenXLPipeline> load(const std::string& model,
                                                const PipelineOptions& options = {});
  ~I2VGenXLPipeline();

  // Checks the request against the model (sizes, frames, steps ...); ConfigError naming the
  // parameter and the allowed values.
  void validate(const GenerationRequest& request) const;
  GenerationResult generate(const GenerationRequest& request, const GenerationHooks& hooks = {});

  // Stages, usable on their own: each leases its model's weights for the call (`plan` says
  // where they go; the default keeps them where they are cheapest).
  // (1, 77, dim) text embeddings: the penultimate CLIP layer through the final LayerNorm.
  at::Tensor encode_prompt(const std::string& text, const GenerationHooks& hooks = {},
                           const std::string& dump_prefix = "", const memory::ExecPlan& plan = {});
  // (1, projection_dim) CLIP image embeddings of the image cropped for `width`.
  at::Tensor encode_image(const image::RgbImage& image, int width,
                          const GenerationHooks& hooks = {}, const memory::ExecPlan& plan = {});
  // (1, C, F, h, w): the VAE-encoded image as frame 0, constant planes i/(F-1) after it.
  at::Tensor image_latents(const image::RgbImage& image, int width, int height, int num_frames,
                           const at::Tensor& posterior_noise, const GenerationHooks& hooks = {},
                           const memory::ExecPlan& plan = {});
  // Frames (F, H, W, 3) uint8, already at the video's size -> their latents (1, C, F, h, w):
  // each frame VAE-encoded, sampled with `posterior_noise` (shape of the posterior mean, (F, C,
  // h, w); random when undefined) and scaled (training targets, `i2v train-lora`).
  at::Tensor encode_frames(const at::Tensor& frames, const at::Tensor& posterior_noise = {},
                           const memory::ExecPlan& plan = {});
  // Latents (1, C, F, h, w) -> video (1, 3, F, H, W) float32 in [-1, 1], `chunk` frames per VAE
  // call under `plan` (its tiling). No fallback here: generate()'s decode stage calls this per
  // chunk of frames under its fallback rungs.
  at::Tensor decode_latents(const at::Tensor& latents, int chunk,
                            const memory::ExecPlan& plan = {});

  const weights::ModelDir& model_dir() const { return dir_; }
  int vae_scale_factor() const;
  at::ScalarType dtype() const { return options_.dtype; }
  at::Device device() const { return options_.device; }
  const unet::UNetConfig& unet_config() const;
  // Whether the UNet keeps its stored precision (mapped) and each block is cast to the compute
  // precision only while it runs (files in another precision than the compute one).
  bool unet_cast_per_block() const { return residency_.unet_cast_per_block(); }
  // The UNet's and the VAE's packed weights (the packed plan on CPU), kept between generations
  // by default (ModelResidency::set_keep_packed_weights), and their bytes now.
  void set_keep_packed_weights(bool keep) { residency_.set_keep_packed_weights(keep); }
  int64_t packed_weight_bytes() const { return residency_.packed_weight_bytes(); }

  // The weights a LoRA may adapt: "unet" and "text_encoder", parameter name -> shape.
  const lora::TargetCatalog& lora_targets() const { return lora_targets_; }

  // Bytes of weights per component ("text_encoder", "image_encoder", "vae", "unet") and how much
  // of it is served from the memory-mapped files (the rest was converted into ordinary memory).
  std::map<std::string, ModelResidency::Weights> component_weights() const {
    return residency_.weights();
  }

 private:
  I2VGenXLPipeline(weights::ModelDir dir, const PipelineOptions& options);
  struct Run;
  at::Tensor encode_prompts(const GenerationRequest& r, Run& run);
  // Several prompts through one forward of the text encoder: (texts.size(), 77, dim), rows in
  // the order given; prefixes name their input_ids dumps and warnings.
  at::Tensor encode_prompt_batch(const std::vector<std::string>& texts,
                                 const std::vector<std::string>& prefixes,
                                 const GenerationHooks& hooks, const memory::ExecPlan& plan);
  at::Tensor encode_image_condition(const GenerationRequest& r, Run& run);
  at::Tensor draw_initial_noise(const GenerationRequest& r, Run& run);
  at::Tensor encode_image_latents(const GenerationRequest& r, Run& run);
  at::Tensor denoise(const GenerationRequest& r, Run& run, const at::Tensor& text,
                     const at::Tensor& image_embeddings, const at::Tensor& image_latents,
                     const at::Tensor& noise);
  // The final uint8 frames (F, H, W, 3), each chunk post-processed and given to the hooks'
  // on_frames as soon as it is decoded; undefined when the hooks keep no frames.
  at::Tensor decode(const GenerationRequest& r, Run& run, const at::Tensor& latents);
  at::Tensor run_unet(const unet::UNetInputs& in, const memory::ExecPlan& plan);

  weights::ModelDir dir_;
  PipelineOptions options_;
  std::shared_ptr<text::ClipTokenizer> tokenizer_;
  image::ClipNormalization clip_norm_;
  std::shared_ptr<vae::AutoencoderKLImpl> vae_;   // also in residency_ (never freed)
  std::shared_ptr<unet::I2VGenXLUNetImpl> unet_;  // likewise
  std::unique_ptr<schedulers::DDIMScheduler> scheduler_;
  ModelResidency residency_;
  lora::TargetCatalog lora_targets_;
};

}  // namespace i2v::pipeline
