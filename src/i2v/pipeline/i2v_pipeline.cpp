#include "i2v/pipeline/i2v_pipeline.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>

#include <spdlog/spdlog.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "i2v/core/limits.h"
#include "i2v/core/runtime.h"
#include "i2v/memory/construction_arena.h"
#include "i2v/models/clip/clip_loading.h"
#include "i2v/models/unet/unet_loading.h"
#include "i2v/models/vae/decode_frames.h"
#include "i2v/models/vae/tiled_vae.h"
#include "i2v/models/vae/vae_loading.h"
#include "i2v/pipeline/frame_windows.h"
#include "i2v/pipeline/pipeline_run.h"
#include "i2v/schedulers/ddim_scheduler.h"
#include "i2v/text/clip_tokenizer.h"
#include "i2v/weights/image_processor_config.h"
#include "i2v/weights/scheduler_config.h"

namespace i2v::pipeline {
namespace {

// Loads a model whose weights the files hold in the compute dtype without paying for its
// construction: built and loaded inside a ConstructionArena, kept only if every tensor then views
// the mapped files (otherwise — conversions, extra buffers — loaded again the ordinary way).
template <class Load>
std::shared_ptr<torch::nn::Module> load_mapped(Load&& load) {
  try {
    std::shared_ptr<torch::nn::Module> model;
    {
      memory::ConstructionArena arena;
      model = load();
    }
    if (memory::MappedWeights::of(*model).all_mapped()) return model;
  } catch (const std::exception&) {
    // fall through: the ordinary load reports any real problem
  }
  std::shared_ptr<torch::nn::Module> model = load();
  memory::trim_heap();
  return model;
}

}  // namespace

I2VGenXLPipeline::I2VGenXLPipeline(weights::ModelDir dir, const PipelineOptions& options)
    : dir_(std::move(dir)), options_(options) {}
I2VGenXLPipeline::~I2VGenXLPipeline() = default;

std::unique_ptr<I2VGenXLPipeline> I2VGenXLPipeline::load(const std::string& model,
                                                         const PipelineOptions& options) {
  const bool cuda = options.device.is_cuda();
  if (options.dtype == at::kHalf && !cuda) {
    throw ConfigError(
        "precision fp16 needs a CUDA device (this CPU has no fast fp16 matrix products); use "
        "bf16 or fp32");
  }
  if (options.dtype != at::kFloat && options.dtype != at::kBFloat16 && options.dtype != at::kHalf) {
    throw ConfigError("the pipeline computes in fp32, bf16 or (CUDA) fp16");
  }
  if (cuda && !cuda_available()) {
    throw ConfigError(
        "device cuda: CUDA is not available (this libtorch was built without CUDA, or no GPU is "
        "visible); use --device cpu");
  }
  if (!options.device.is_cpu() && !cuda) {
    throw ConfigError("device " + options.device.str() + ": only cpu and cuda are supported");
  }
  std::unique_ptr<I2VGenXLPipeline> p(
      new I2VGenXLPipeline(weights::ModelDir::open(model), options));
  torch::NoGradGuard no_grad;
  const weights::ModelDir& dir = p->dir_;
  memory::WeightStager::Options staging;
  staging.device = options.device;
  staging.dtype = options.dtype;
  staging.prefetch = cuda;
  p->residency_ = ModelResidency(staging);

  p->tokenizer_ = std::make_shared<text::ClipTokenizer>(
      text::ClipTokenizer::from_folder(dir.component_dir("tokenizer")));
  auto fe = weights::ClipImageProcessorConfig::load(dir.config_path("feature_extractor"));
  p->clip_norm_.crop_width = static_cast<int>(fe.crop_width);
  p->clip_norm_.crop_height = static_cast<int>(fe.crop_height);
  for (int c = 0; c < 3; ++c) {
    p->clip_norm_.mean[c] = static_cast<float>(fe.image_mean.at(c));
    p->clip_norm_.std[c] = static_cast<float>(fe.image_std.at(c));
  }

  // The four models, one convention: <model>::load_<model>(ModelDir, options), strict.
  clip::ClipLoadOptions clip_opts;
  clip_opts.dtype = options.dtype;
  clip_opts.variant = options.variant;
  auto text_loader = [&dir, clip_opts] {
    return load_mapped([&] { return clip::load_clip_text_model(dir, clip_opts); });
  };
  auto image_loader = [&dir, clip_opts] {
    return load_mapped([&] { return clip::load_clip_vision_model(dir, clip_opts); });
  };
  // Checked now; converted ones are freed again and reloaded only while their stage runs.
  auto text_encoder = text_loader();
  p->lora_targets_["text_encoder"] = lora::adaptable_weights(*text_encoder);
  p->residency_.add(Model::TextEncoder, std::move(text_encoder), text_loader);
  p->residency_.add(Model::ImageEncoder, image_loader(), image_loader);
  // Both encoders run layer by layer under CPU streaming (each layer's pages dropped after it).
  auto layered = [](auto encoder_of) {
    ModelResidency::Layered l;
    l.layers = [encoder_of](torch::nn::Module& m) { return encoder_of(m).layer_modules(); };
    l.attach = [encoder_of](torch::nn::Module& m, memory::BlockHooks hooks) {
      encoder_of(m).set_layer_hooks({std::move(hooks.before), std::move(hooks.after)});
    };
    return l;
  };
  p->residency_.set_layered(Model::TextEncoder,
                            layered([](torch::nn::Module& m) -> clip::EncoderImpl& {
                              return *static_cast<clip::ClipTextModel&>(m).text_model->encoder;
                            }));
  p->residency_.set_layered(
      Model::ImageEncoder, layered([](torch::nn::Module& m) -> clip::EncoderImpl& {
        return *static_cast<clip::ClipVisionModelWithProjection&>(m).vision_model->encoder;
      }));

  vae::VaeLoadOptions vae_opts;
  vae_opts.dtype = options.dtype;
  vae_opts.variant = options.variant;
  p->vae_ = std::static_pointer_cast<vae::AutoencoderKLImpl>(
      load_mapped([&] { return vae::load_autoencoder_kl(dir, vae_opts).ptr(); }));
  p->residency_.add(Model::Vae, p->vae_);

  // The UNet keeps the files' precision; when that is not the compute one, each top-level block
  // is cast only while it runs and the small rest is converted now. Files that mix float
  // precisions are converted whole.
  unet::UNetLoadOptions unet_opts;
  unet_opts.dtype = options.dtype;
  unet_opts.variant = options.variant;
  unet::LoadedUNet loaded = unet::load_i2vgen_xl_unet(dir, unet_opts);
  p->unet_ = loaded.unet.ptr();
  p->lora_targets_["unet"] = lora::adaptable_weights(*p->unet_);
  // 8-bit weights (`i2v quantize`) stay mapped: each layer dequantizes its own where it runs.
  p->residency_.add_unet(p->unet_, p->unet_->top_level_blocks(),
                         loaded.stored_dtype != options.dtype);

  p->scheduler_ = std::make_unique<schedulers::DDIMScheduler>(
      weights::DDIMSchedulerConfig::load(dir.config_path("scheduler")));
  return p;
}

int I2VGenXLPipeline::vae_scale_factor() const {
  return static_cast<int>(vae_->config().spatial_scale_factor());
}

const unet::UNetConfig& I2VGenXLPipeline::unet_config() const {
  return unet_->config();
}

void I2VGenXLPipeline::validate(const GenerationRequest& r) const {
  Limits limits;
  check_limits(r.width, r.height, r.num_frames, r.target_fps, r.num_inference_steps,
               r.guidance_scale, std::max(r.prompt.size(), r.negative_prompt.size()), limits);
  const int f = vae_scale_factor();
  if (r.width % f || r.height % f) {
    throw ConfigError("width and height must be multiples of " + std::to_string(f) + " (got " +
                      std::to_string(r.width) + "x" + std::to_string(r.height) + ")");
  }
  if (r.decode_chunk_size < 1) throw ConfigError("decode chunk size must be at least 1");
  validate_windows(r.windows);
  std::vector<const memory::ExecPlan*> plans{&r.plan};
  for (const auto& p : r.fallback) plans.push_back(&p);
  for (const memory::ExecPlan* plan : plans) {
    if (plan->frame_chunk < 0 || plan->temporal_chunk < 0 || plan->attention_score_budget < 0) {
      throw ConfigError("plan '" + plan->name + "': chunk sizes must be 0 (off) or positive");
    }
    if (plan->vae_tile != 0) {
      try {
        vae::validate_tiling({plan->vae_tile, plan->vae_tile_overlap}, vae_->config());
      } catch (const ConfigError& e) {
        throw ConfigError(std::string("VAE tiling (--vae-tile, --vae-tile-overlap): ") + e.what());
      }
    }
  }
  if (r.image.width < 1 || r.image.height < 1) throw ConfigError("the input image is empty");
}

at::Tensor I2VGenXLPipeline::encode_prompt(const std::string& text, const GenerationHooks& hooks,
                                           const std::string& prefix,
                                           const memory::ExecPlan& plan) {
  return encode_prompt_batch({text}, {prefix}, hooks, plan);
}

at::Tensor I2VGenXLPipeline::encode_prompt_batch(const std::vector<std::string>& texts,
                                                 const std::vector<std::string>& prefixes,
                                                 const GenerationHooks& hooks,
                                                 const memory::ExecPlan& plan) {
  torch::NoGradGuard no_grad;
  auto lease = residency_.lease(Model::TextEncoder, plan);
  std::vector<at::Tensor> ids;
  for (size_t i = 0; i < texts.size(); ++i) {
    const text::TokenizedText tokens = (*tokenizer_)(texts[i]);
    if (tokens.truncated_tokens > 0) {
      spdlog::warn("the {}prompt is longer than CLIP's {} tokens: its last {} tokens are ignored",
                   prefixes[i] == "negative_" ? "negative " : "", tokens.input_ids.size(),
                   tokens.truncated_tokens);
    }
    ids.push_back(tokenizer_->input_ids_tensor({texts[i]}));
    if (hooks.dump) hooks.dump(prefixes[i] + "input_ids", ids.back());
  }
  // The penultimate layer through the final LayerNorm (clip_skip 1, the pipeline's default).
  return lease.as<clip::ClipTextModel>().prompt_embeds(at::cat(ids).to(options_.device), 1);
}

at::Tensor I2VGenXLPipeline::encode_image(const image::RgbImage& img, int width,
                                          const GenerationHooks& hooks,
                                          const memory::ExecPlan& plan) {
  torch::NoGradGuard no_grad;
  auto lease = residency_.lease(Model::ImageEncoder, plan);
  image::RgbImage crop = image::clip_input_image(img, width, clip_norm_);
  if (hooks.dump) hooks.dump("clip_input_image_uint8", image::to_uint8_tensor(crop));
  at::Tensor pixels = image::clip_pixel_values(crop, clip_norm_);
  if (hooks.dump) hooks.dump("clip_pixel_values", pixels);
  at::Tensor embeds = lease.as<clip::ClipVisionModelWithProjection>().image_embeds(
      pixels.to(options_.device, options_.dtype));
  if (hooks.dump) hooks.dump("image_embeds", embeds);
  return embeds;
}

at::Tensor I2VGenXLPipeline::image_latents(const image::RgbImage& img, int width, int height,
                                           int num_frames, const at::Tensor& posterior_noise,
                                           const GenerationHooks& hooks,
                                           const memory::ExecPlan& plan) {
  torch::NoGradGuard no_grad;
  auto lease = residency_.lease(Model::Vae, plan);
  auto dump = [&](const char* name, const at::Tensor& t) {
    if (hooks.dump) hooks.dump(name, t);
  };
  image::RgbImage crop = image::vae_input_image(img, width, height);
  dump("vae_input_image_uint8", image::to_uint8_tensor(crop));
  at::Tensor pixels = image::vae_pixel_values(crop);
  dump("vae_input_image", pixels);
  const at::Tensor x = pixels.to(options_.device, options_.dtype);
  const vae::VaeTiling tiling{plan.vae_tile, plan.vae_tile_overlap};
  vae::Posterior post = tiling.enabled() ? vae::encode_tiled(*vae_, x, tiling) : vae_->encode(x);
  dump("vae_posterior_mean", post.mean);
  dump("vae_posterior_logvar", post.logvar);
  dump("vae_posterior_std", post.std);
  at::Tensor noise = posterior_noise;
  if (!noise.defined()) noise = at::randn(post.mean.sizes(), at::kFloat);
  if (noise.sizes() != post.mean.sizes()) {
    throw ShapeError("vae_posterior_noise must have shape of the posterior mean");
  }
  dump("vae_posterior_noise", noise);
  at::Tensor first = post.sample(noise.to(post.mean.device(), post.mean.scalar_type())) *
                     vae_->config().scaling_factor;
  // Frame 0 is the encoded image; frames 1..F-1 are constant planes i / (F - 1).
  std::vector<at::Tensor> frames{first.unsqueeze(2)};
  for (int i = 1; i < num_frames; ++i) {
    frames.push_back(at::ones_like(first).unsqueeze(2) *
                     (static_cast<double>(i) / (num_frames - 1)));
  }
  return at::cat(frames, 2);
}

at::Tensor I2VGenXLPipeline::encode_frames(const at::Tensor& frames,
                                           const at::Tensor& posterior_noise,
                                           const memory::ExecPlan& plan) {
  torch::NoGradGuard no_grad;
  if (frames.dim() != 4 || frames.size(3) != 3 || frames.scalar_type() != at::kByte)
    throw ShapeError("encode_frames: expected (F, H, W, 3) uint8 frames");
  auto lease = residency_.lease(Model::Vae, plan);
  const vae::VaeTiling tiling{plan.vae_tile, plan.vae_tile_overlap};
  std::vector<at::Tensor> latents;
  for (int64_t i = 0; i < frames.size(0); ++i) {  // one frame at a time: one frame's activations
    const at::Tensor x = (frames[i].permute({2, 0, 1}).unsqueeze(0).to(at::kFloat) / 255 * 2 - 1)
                             .to(options_.device, options_.dtype);
    vae::Posterior post = tiling.enabled() ? vae::encode_tiled(*vae_, x, tiling) : vae_->encode(x);
    at::Tensor noise = posterior_noise.defined() ? posterior_noise.narrow(0, i, 1)
                                                 : at::randn(post.mean.sizes(), at::kFloat);
    if (noise.sizes() != post.mean.sizes())
      throw ShapeError("encode_frames: posterior noise must be (F, C, h, w)");
    latents.push_back(post.sample(noise.to(post.mean.device(), post.mean.scalar_type())) *
                      vae_->config().scaling_factor);
  }
  return at::cat(latents, 0).permute({1, 0, 2, 3}).unsqueeze(0).contiguous();  // (1, C, F, h, w)
}

at::Tensor I2VGenXLPipeline::decode_latents(const at::Tensor& latents, int chunk,
                                            const memory::ExecPlan& plan) {
  torch::NoGradGuard no_grad;
  auto lease = residency_.lease(Model::Vae, plan);
  at::Tensor z = (latents / vae_->config().scaling_factor).to(options_.dtype);
  return vae::decode_frames(*vae_, z, chunk, {plan.vae_tile, plan.vae_tile_overlap})
      .to(at::kCPU, at::kFloat);
}

// generate(): the reference's steps in order. Each stage runs under the fallback ladder
// (run.guarded) and records its time and memory (run.stage).
GenerationResult I2VGenXLPipeline::generate(const GenerationRequest& r,
                                            const GenerationHooks& hooks) {
  validate(r);
  torch::NoGradGuard no_grad;
  // LoRAs: on their models for this generation only (each lease attaches, the last one detaches).
  struct AdapterScope {
    ModelResidency& residency;
    ~AdapterScope() {
      residency.set_adapters(Model::UNet, nullptr, lora::Mode::Auto);
      residency.set_adapters(Model::TextEncoder, nullptr, lora::Mode::Auto);
    }
  } adapter_scope{residency_};
  if (r.loras) {
    for (const auto& [component, adapters] : r.loras->components) {
      if (component != "unet" && component != "text_encoder")
        throw ConfigError("LoRA for the " + component + " is not supported (unet, text_encoder)");
      residency_.set_adapters(component == "unet" ? Model::UNet : Model::TextEncoder, &adapters,
                              r.lora_mode);
    }
  }
  Run run(r, hooks);
  at::manual_seed(static_cast<uint64_t>(r.seed));

  // 1. Encode the prompts: [negative, prompt] with classifier-free guidance.
  const at::Tensor text = run.stage("text", "text_encode", [&] { return encode_prompts(r, run); });
  // 2. Encode the image with CLIP: [zeros, embeds] with guidance.
  const at::Tensor image_embeddings =
      run.stage("image", "image_encode", [&] { return encode_image_condition(r, run); });
  // 3. The initial noise, drawn before the VAE's posterior sample (the reference's order).
  const at::Tensor noise = draw_initial_noise(r, run);
  // 4. Encode the image with the VAE: frame 0 of the image latents.
  const at::Tensor latents_cond =
      run.stage("vae_encode", "vae_encode", [&] { return encode_image_latents(r, run); });
  // 5. Denoise: UNet with guidance, DDIM step; the ladder redoes a failing step.
  const at::Tensor latents = run.stage("unet", "denoise", [&] {
    return denoise(r, run, text, image_embeddings, latents_cond, noise);
  });
  run.dump("final_latents", latents);
  // 6. Decode the latents in frame chunks (on out-of-memory: smaller chunks, then tiles) and
  // 7. post-process each chunk to uint8 frames (F, H, W, 3), streamed to the hooks.
  run.result.frames =
      run.stage("vae_decode", "vae_decode", [&] { return decode(r, run, latents); });
  run.result.lora_modes = residency_.adapter_modes();
  if (r.windows.approximate(r.num_frames)) run.approximate = true;  // several windows
  return run.finish();
}

at::Tensor I2VGenXLPipeline::encode_prompts(const GenerationRequest& r, Run& run) {
  return run.guarded("text", 0, [&](const memory::ExecPlan& plan) {
    if (!run.cfg) {
      at::Tensor prompt = encode_prompt(r.prompt, run.hooks, "prompt_", plan);
      run.dump("prompt_embeds", prompt);
      return prompt;
    }
    // Both prompts in one forward (batch 2): each weight is read once instead of twice. Rows are
    // independent through the encoder, so each equals its own forward within float rounding.
    at::Tensor both = encode_prompt_batch({r.negative_prompt, r.prompt}, {"negative_", "prompt_"},
                                          run.hooks, plan);
    run.dump("prompt_embeds", both.narrow(0, 1, 1));
    run.dump("negative_prompt_embeds", both.narrow(0, 0, 1));
    return both;
  });
}

at::Tensor I2VGenXLPipeline::encode_image_condition(const GenerationRequest& r, Run& run) {
  return run.guarded("image", 0, [&](const memory::ExecPlan& plan) {
    at::Tensor embeds = encode_image(r.image, r.width, run.hooks, plan).unsqueeze(1);
    // The unconditional embedding is zeros before the UNet's image MLP.
    at::Tensor out = run.cfg ? at::cat({at::zeros_like(embeds), embeds}) : embeds;
    run.dump("image_embeddings", out);
    return out;
  });
}

at::Tensor I2VGenXLPipeline::draw_initial_noise(const GenerationRequest& r, Run& run) {
  const int64_t c = unet_->config().in_channels, f = r.num_frames;
  const int64_t h = r.height / vae_scale_factor(), w = r.width / vae_scale_factor();
  at::Tensor noise = r.initial_noise;
  // Drawn on the CPU in float32: the same video on every device.
  if (!noise.defined()) noise = at::randn({1, c, f, h, w}, at::kFloat);
  if (noise.sizes() != at::IntArrayRef({1, c, f, h, w})) {
    throw ShapeError("initial_noise must be (1, " + std::to_string(c) + ", " + std::to_string(f) +
                     ", " + std::to_string(h) + ", " + std::to_string(w) + ")");
  }
  if (r.windows.shuffle_noise && r.windows.approximate(f)) {
    noise = shuffle_context_noise(noise, r.windows.length, r.windows.stride,
                                  at::detail::getDefaultCPUGenerator());
  }
  run.dump("initial_noise", noise);  // as the denoising loop starts from it (shuffled or not)
  return noise;
}

at::Tensor I2VGenXLPipeline::encode_image_latents(const GenerationRequest& r, Run& run) {
  // A retry draws no new noise: the posterior noise is drawn once, in the reference's order.
  at::Tensor posterior = r.vae_posterior_noise;
  return run.guarded("vae_encode", 0, [&](const memory::ExecPlan& plan) {
    if (!posterior.defined()) {
      const int64_t h = r.height / vae_scale_factor(), w = r.width / vae_scale_factor();
      posterior = at::randn({1, vae_->config().latent_channels, h, w}, at::kFloat);
    }
    at::Tensor lat =
        image_latents(r.image, r.width, r.height, r.num_frames, posterior, run.hooks, plan);
    run.dump("image_latents", run.cfg ? at::cat({lat, lat}) : lat);
    return lat;
  });
}

}  // namespace i2v::pipeline
