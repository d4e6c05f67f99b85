// I2VGenXLPipeline: the stages of diffusers' pipeline with explicit inputs and outputs —
// tokenize, text encode, image encode, VAE encode -> image latents, noise, the denoising loop
// (classifier-free guidance in [unconditional, conditional] order, DDIM), VAE decode in chunks,
// post-processing to uint8 frames.
#pragma once

#include <memory>
#include <string>

#include "i2v/core/error.h"
#include "i2v/image/model_inputs.h"
#include "i2v/memory/mapped_weights.h"
#include "i2v/memory/weight_stager.h"
#include "i2v/models/clip/clip_text_model.h"
#include "i2v/models/clip/clip_vision_model.h"
#include "i2v/models/unet/i2vgen_xl_unet.h"
#include "i2v/models/vae/autoencoder_kl.h"
#include "i2v/models/vae/tiled_vae.h"
#include "i2v/pipeline/request.h"
#include "i2v/schedulers/ddim_scheduler.h"
#include "i2v/text/clip_tokenizer.h"
#include "i2v/weights/model_dir.h"

namespace i2v::pipeline {

class CancelledError : public Error {
 public:
  CancelledError() : Error("generation cancelled") {}
};

struct PipelineOptions {
  at::ScalarType dtype = at::kFloat;  // compute precision of the networks (fp32 or bf16)
  weights::VariantMode variant = weights::VariantMode::Auto;
  // Where the networks compute. Weights keep their home in host memory; the plan's residency
  // says what is staged on the device (memory::WeightStager). ConfigError when unavailable.
  at::Device device = at::kCPU;
};

class I2VGenXLPipeline {
 public:
  // Loads every component of a diffusers I2VGenXLPipeline folder (or cached repo id).
  static I2VGenXLPipeline load(const std::string& model, const PipelineOptions& options = {});

  // Checks the request against the model (sizes, frames, steps ...); ConfigError naming the
  // parameter and the allowed values.
  void validate(const GenerationRequest& request) const;
  GenerationResult generate(const GenerationRequest& request, const GenerationHooks& hooks = {});

  // Stages, usable on their own.
  at::Tensor encode_prompt(const std::string& text, const GenerationHooks& hooks,
                           const std::string& dump_prefix);
  at::Tensor encode_image(const image::RgbImage& image, int width, const GenerationHooks& hooks);
  at::Tensor image_latents(const image::RgbImage& image, int width, int height, int num_frames,
                           const at::Tensor& posterior_noise, const GenerationHooks& hooks,
                           const vae::VaeTiling& tiling = {});

  const weights::ModelDir& model_dir() const { return dir_; }
  int vae_scale_factor() const;
  at::ScalarType dtype() const { return options_.dtype; }
  at::Device device() const { return options_.device; }
  // Whether the UNet keeps its stored precision (mapped) and each block is cast to the compute
  // precision only while it runs (files in another precision than the compute one).
  bool unet_cast_per_block() const { return unet_cast_per_block_; }
  const unet::UNetConfig& unet_config() const { return unet_->config(); }

  // Bytes of weights per component ("text_encoder", "image_encoder", "vae", "unet") and how much
  // of it is served from the memory-mapped files (the rest was converted into ordinary memory).
  struct ComponentWeights {
    int64_t bytes = 0, mapped_bytes = 0;
  };
  std::map<std::string, ComponentWeights> component_weights() const;

 private:
  I2VGenXLPipeline(weights::ModelDir dir, const PipelineOptions& options);
  void load_text_encoder();
  void load_image_encoder();
  // Drops a component's weight pages from the resident set (mapped weights: madvise; the rest:
  // the module itself, reloaded on next use).
  void release_text_encoder();
  void release_image_encoder();
  at::Tensor run_unet(const unet::UNetInputs& in, const memory::ExecPlan& plan);
  // After a component's stage (staged with stager_.stage): unstaged unless the plan keeps it
  // resident on the device.
  void unstage_component(torch::nn::Module& m, const memory::ExecPlan& plan);
  // The UNet's blocks staged according to the plan for the denoising loop.
  void begin_denoising(const memory::ExecPlan& plan);
  void end_denoising(const memory::ExecPlan& plan);

  weights::ModelDir dir_;
  PipelineOptions options_;
  std::shared_ptr<text::ClipTokenizer> tokenizer_;
  std::shared_ptr<clip::ClipTextModel> text_encoder_;
  std::shared_ptr<clip::ClipVisionModelWithProjection> image_encoder_;
  image::ClipNormalization clip_norm_;
  vae::AutoencoderKL vae_{nullptr};
  unet::I2VGenXLUNet unet_{nullptr};
  std::unique_ptr<schedulers::DDIMScheduler> scheduler_;
  memory::MappedWeights text_pages_, image_pages_, vae_pages_, unet_pages_;
  // Per UNet block (streaming): its mapped pages, found once.
  std::map<const torch::nn::Module*, memory::MappedWeights> block_pages_;
  std::map<std::string, ComponentWeights> weights_;
  memory::WeightStager stager_;
  std::vector<torch::nn::Module*> unet_blocks_;
  bool unet_cast_per_block_ = false;
  bool unet_pinned_ = false;
};

}  // namespace i2v::pipeline
