#include "i2v/pipeline/i2v_pipeline.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include <spdlog/spdlog.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "i2v/core/runtime.h"
#include "i2v/memory/construction_arena.h"
#include "i2v/memory/memory_stats.h"
#include "i2v/models/clip/clip_loading.h"
#include "i2v/models/vae/decode_frames.h"
#include "i2v/models/vae/tiled_vae.h"
#include "i2v/models/vae/vae_loading.h"
#include "i2v/weights/image_processor_config.h"
#include "i2v/weights/scheduler_config.h"
#include "i2v/weights/state_dict.h"

namespace i2v::pipeline {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void dump(const GenerationHooks& hooks, const std::string& name, const at::Tensor& t) {
  if (hooks.dump) hooks.dump(name, t);
}

// (B, C, F, h, w) <-> (B*F, C, h, w), frames of each batch item consecutive (the scheduler's view).
at::Tensor to_frames(const at::Tensor& x) {
  return x.permute({0, 2, 1, 3, 4})
      .reshape({x.size(0) * x.size(2), x.size(1), x.size(3), x.size(4)});
}
at::Tensor from_frames(const at::Tensor& x, int64_t b, int64_t f) {
  return x.reshape({b, f, x.size(1), x.size(2), x.size(3)}).permute({0, 2, 1, 3, 4});
}

// Loads a model whose weights the files hold in the compute dtype without paying for its
// construction: built and loaded inside a ConstructionArena, kept only if every tensor then views
// the mapped files (otherwise — conversions, extra buffers — loaded again the ordinary way).
template <class Load>
auto load_mapped(Load&& load) -> decltype(load()) {
  try {
    decltype(load()) model;  // a std::shared_ptr to the module
    {
      memory::ConstructionArena arena;
      model = load();
    }
    if (memory::MappedWeights::of(*model).all_mapped()) return model;
  } catch (const std::exception&) {
    // fall through: the ordinary load reports any real problem
  }
  auto model = load();
  memory::trim_heap();
  return model;
}

int64_t tensor_bytes(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters(true)) n += p.numel() * p.element_size();
  for (const auto& b : m.buffers(true)) n += b.numel() * b.element_size();
  return n;
}

bool is_out_of_memory(const std::exception& e) {
  if (dynamic_cast<const memory::BudgetExceededError*>(&e)) return true;
  const std::string what = e.what();
  return what.find("out of memory") != std::string::npos ||
         what.find("memory budget exceeded") != std::string::npos ||
         what.find("can't allocate memory") != std::string::npos;
}

vae::VaeTiling tiling_of(const memory::ExecPlan& plan) {
  vae::VaeTiling t;
  t.tile_sample_size = plan.vae_tile;
  t.overlap = plan.vae_tile_overlap;
  return t;
}

// Converts every tensor of `m` that lies outside `blocks` (directly or in a sub-module that is
// neither a block nor holds one, e.g. the ModuleList holding the down blocks) for good.
void convert_outside_blocks(torch::nn::Module& m, const std::vector<torch::nn::Module*>& blocks,
                            const memory::WeightStager& stager) {
  auto is_block = [&](const torch::nn::Module* x) {
    return std::find(blocks.begin(), blocks.end(), x) != blocks.end();
  };
  stager.convert_in_place(m, /*recurse=*/false);  // tensors registered on `m` itself
  for (const auto& child : m.children()) {
    if (is_block(child.get())) continue;
    bool holds_block = false;
    for (const auto& sub : child->modules(/*include_self=*/false))
      holds_block |= is_block(sub.get());
    if (holds_block) {
      convert_outside_blocks(*child, blocks, stager);
    } else {
      stager.convert_in_place(*child);
    }
  }
}

// Stage bracket for the memory log.
struct Stage {
  memory::MemoryLog& log;
  std::string name;
  Stage(memory::MemoryLog& l, std::string n) : log(l), name(std::move(n)) { log.begin_stage(name); }
  ~Stage() { log.end_stage(name); }
};

}  // namespace

I2VGenXLPipeline::I2VGenXLPipeline(weights::ModelDir dir, const PipelineOptions& options)
    : dir_(std::move(dir)), options_(options) {}

I2VGenXLPipeline I2VGenXLPipeline::load(const std::string& model, const PipelineOptions& options) {
  if (options.dtype != at::kFloat && options.dtype != at::kBFloat16) {
    throw ConfigError("the pipeline computes in fp32 or bf16");
  }
  if (options.device.is_cuda() && !cuda_available()) {
    throw ConfigError(
        "device cuda: CUDA is not available (this libtorch was built without CUDA, or no GPU is "
        "visible); use --device cpu");
  }
  if (!options.device.is_cpu() && !options.device.is_cuda()) {
    throw ConfigError("device " + options.device.str() + ": only cpu and cuda are supported");
  }
  I2VGenXLPipeline p(weights::ModelDir::open(model), options);
  torch::NoGradGuard no_grad;
  p.tokenizer_ = std::make_shared<text::ClipTokenizer>(
      text::ClipTokenizer::from_folder(p.dir_.component_dir("tokenizer")));
  // The encoders are loaded (and so checked) now; converted ones (files in another precision)
  // are freed again and reloaded when their stage runs, so that the process never holds them
  // beside each other and the UNet (fp32 from bf16 files: 3.9 GB of converted encoders).
  p.load_text_encoder();
  if (!p.text_pages_.all_mapped()) p.text_encoder_.reset();
  p.load_image_encoder();
  if (!p.image_pages_.all_mapped()) p.image_encoder_.reset();
  memory::trim_heap();
  auto fe = weights::CLIPImageProcessorConfig::load(p.dir_.config_path("feature_extractor"));
  p.clip_norm_.crop_width = static_cast<int>(fe.crop_width);
  p.clip_norm_.crop_height = static_cast<int>(fe.crop_height);
  for (int c = 0; c < 3; ++c) {
    p.clip_norm_.mean[c] = static_cast<float>(fe.image_mean.at(c));
    p.clip_norm_.std[c] = static_cast<float>(fe.image_std.at(c));
  }
  vae::VaeLoadOptions vae_opts;
  vae_opts.dtype = options.dtype;
  vae_opts.variant = options.variant;
  p.vae_ = vae::AutoencoderKL(
      load_mapped([&] { return vae::load_autoencoder_kl(p.dir_, vae_opts).ptr(); }));

  // The UNet is built inside an arena (its random initialisation would cost 5.7 GB in fp32) and
  // then strict-loaded outside it: every parameter and buffer is replaced by a view of the file
  // in its stored precision. When that is not the compute precision, each top-level block is
  // cast only while it runs (the WeightStager) and the small rest is converted once. Files that
  // mix float precisions are converted whole, as before.
  auto unet_config =
      unet::UNetConfig::from_json(p.dir_.config("unet"), p.dir_.config_path("unet").string());
  {
    memory::ConstructionArena arena;
    p.unet_ = unet::I2VGenXLUNet(unet_config);
  }
  weights::VariantPolicy policy;
  policy.mode = options.variant;
  policy.compute_dtype = options.dtype;
  weights::StateDict unet_weights = p.dir_.open_weights("unet", policy);
  const std::optional<at::ScalarType> stored = unet_weights.float_dtype();
  weights::LoadOptions load;
  load.dtype = stored.value_or(options.dtype);
  weights::load_state_dict_strict(*p.unet_, unet_weights, "unet", load);
  p.unet_->eval();
  p.unet_cast_per_block_ = stored && *stored != options.dtype;
  p.unet_blocks_ = p.unet_->top_level_blocks();
  memory::WeightStager::Options stage;
  stage.device = options.device;
  stage.dtype = options.dtype;
  stage.prefetch = options.device.is_cuda();
  p.stager_ = memory::WeightStager(stage);
  convert_outside_blocks(*p.unet_, p.unet_blocks_, p.stager_);
  memory::trim_heap();
  p.vae_pages_ = memory::MappedWeights::of(*p.vae_);
  p.unet_pages_ = memory::MappedWeights::of(*p.unet_);
  p.weights_["vae"] = {tensor_bytes(*p.vae_), p.vae_pages_.mapped_bytes()};
  p.weights_["unet"] = {tensor_bytes(*p.unet_), p.unet_pages_.mapped_bytes()};
  p.scheduler_ = std::make_unique<schedulers::DDIMScheduler>(
      weights::DDIMSchedulerConfig::load(p.dir_.config_path("scheduler")));
  return p;
}

void I2VGenXLPipeline::load_text_encoder() {
  clip::ClipLoadOptions o;
  o.dtype = options_.dtype;
  o.variant = options_.variant;
  text_encoder_ = load_mapped([&] { return clip::load_clip_text_model(dir_, o); });
  text_pages_ = memory::MappedWeights::of(*text_encoder_);
  weights_["text_encoder"] = {tensor_bytes(*text_encoder_), text_pages_.mapped_bytes()};
}

void I2VGenXLPipeline::load_image_encoder() {
  clip::ClipLoadOptions o;
  o.dtype = options_.dtype;
  o.variant = options_.variant;
  image_encoder_ = load_mapped([&] { return clip::load_clip_vision_model(dir_, o); });
  image_pages_ = memory::MappedWeights::of(*image_encoder_);
  weights_["image_encoder"] = {tensor_bytes(*image_encoder_), image_pages_.mapped_bytes()};
}

void I2VGenXLPipeline::release_text_encoder() {
  if (!text_encoder_) return;
  if (text_pages_.all_mapped()) {
    text_pages_.release();  // faults back in from the page cache if used again
  } else {
    text_encoder_.reset();  // converted weights: freed now, reloaded on next use
    memory::trim_heap();
  }
}

void I2VGenXLPipeline::release_image_encoder() {
  if (!image_encoder_) return;
  if (image_pages_.all_mapped()) {
    image_pages_.release();
  } else {
    image_encoder_.reset();
    memory::trim_heap();
  }
}

std::map<std::string, I2VGenXLPipeline::ComponentWeights> I2VGenXLPipeline::component_weights()
    const {
  return weights_;
}

int I2VGenXLPipeline::vae_scale_factor() const {
  return static_cast<int>(vae_->config().spatial_scale_factor());
}

void I2VGenXLPipeline::validate(const GenerationRequest& r) const {
  const int f = vae_scale_factor();
  auto bad = [](const std::string& what) { throw ConfigError(what); };
  if (r.width < f || r.height < f || r.width % f || r.height % f || r.width > 4096 ||
      r.height > 4096) {
    bad("width and height must be multiples of " + std::to_string(f) + " between " +
        std::to_string(f) + " and 4096 (got " + std::to_string(r.width) + "x" +
        std::to_string(r.height) + ")");
  }
  if (r.num_frames < 2 || r.num_frames > 256) {
    bad("frames must be between 2 and 256 (got " + std::to_string(r.num_frames) + ")");
  }
  if (r.num_inference_steps < 1 || r.num_inference_steps > 1000) {
    bad("steps must be between 1 and 1000 (got " + std::to_string(r.num_inference_steps) + ")");
  }
  if (r.target_fps < 1 || r.target_fps > 240) {
    bad("fps must be between 1 and 240 (got " + std::to_string(r.target_fps) + ")");
  }
  if (!(r.guidance_scale >= 0.0 && r.guidance_scale <= 100.0)) {
    bad("guidance must be between 0 and 100");
  }
  if (r.decode_chunk_size < 1) bad("decode chunk size must be at least 1");
  for (const memory::ExecPlan* plan : [&] {
         std::vector<const memory::ExecPlan*> all{&r.plan};
         for (const auto& p : r.fallback) all.push_back(&p);
         return all;
       }()) {
    if (plan->frame_chunk < 0 || plan->temporal_chunk < 0 || plan->vae_decode_chunk < 0 ||
        plan->attention_score_budget < 0) {
      bad("plan '" + plan->name + "': chunk sizes must be 0 (off) or positive");
    }
    if (plan->vae_tile != 0) {
      try {
        vae::validate_tiling(tiling_of(*plan), vae_->config());
      } catch (const ConfigError& e) {
        bad(std::string("VAE tiling (--vae-tile, --vae-tile-overlap): ") + e.what());
      }
    }
  }
  if (r.image.width < 1 || r.image.height < 1) bad("the input image is empty");
}

at::Tensor I2VGenXLPipeline::encode_prompt(const std::string& text, const GenerationHooks& hooks,
                                           const std::string& prefix) {
  if (!text_encoder_) load_text_encoder();
  at::Tensor ids = tokenizer_->input_ids_tensor({text});
  dump(hooks, prefix + "input_ids", ids);
  // The penultimate layer through the final LayerNorm (clip_skip 1, the pipeline's default).
  at::Tensor embeds = text_encoder_->prompt_embeds(ids.to(options_.device), 1);
  return embeds;
}

at::Tensor I2VGenXLPipeline::encode_image(const image::RgbImage& img, int width,
                                          const GenerationHooks& hooks) {
  if (!image_encoder_) load_image_encoder();
  image::RgbImage crop = image::clip_input_image(img, width, clip_norm_);
  dump(hooks, "clip_input_image_uint8", image::to_uint8_tensor(crop));
  at::Tensor pixels = image::clip_pixel_values(crop, clip_norm_);
  dump(hooks, "clip_pixel_values", pixels);
  at::Tensor embeds = image_encoder_->image_embeds(pixels.to(options_.device, options_.dtype));
  dump(hooks, "image_embeds", embeds);
  return embeds;
}

at::Tensor I2VGenXLPipeline::image_latents(const image::RgbImage& img, int width, int height,
                                           int num_frames, const at::Tensor& posterior_noise,
                                           const GenerationHooks& hooks,
                                           const vae::VaeTiling& tiling) {
  image::RgbImage crop = image::vae_input_image(img, width, height);
  dump(hooks, "vae_input_image_uint8", image::to_uint8_tensor(crop));
  at::Tensor pixels = image::vae_pixel_values(crop);
  dump(hooks, "vae_input_image", pixels);
  const at::Tensor x = pixels.to(options_.device, options_.dtype);
  vae::Posterior post = tiling.enabled() ? vae::encode_tiled(*vae_, x, tiling) : vae_->encode(x);
  dump(hooks, "vae_posterior_mean", post.mean);
  dump(hooks, "vae_posterior_logvar", post.logvar);
  dump(hooks, "vae_posterior_std", post.std);
  at::Tensor noise = posterior_noise;
  if (!noise.defined()) noise = at::randn(post.mean.sizes(), at::kFloat);
  if (noise.sizes() != post.mean.sizes()) {
    throw ShapeError("vae_posterior_noise must have shape of the posterior mean");
  }
  dump(hooks, "vae_posterior_noise", noise);
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

at::Tensor I2VGenXLPipeline::run_unet(const unet::UNetInputs& in, const memory::ExecPlan& plan) {
  plan.apply_layer_budgets();
  const bool cpu = options_.device.is_cpu();
  const bool streaming = plan.residency == memory::Residency::StreamBlocks;
  // Whole-UNet plans on a GPU were staged by begin_denoising; on CPU with weights in the
  // compute dtype there is nothing to stage.
  if (!streaming && !(cpu && unet_cast_per_block_)) return unet_->forward(in, {}, plan);
  // Per block: staged (cast and/or copied to the device) just before its forward, the next block
  // prefetched on a GPU; after it the staged copy goes and, when streaming on CPU, the block's
  // weight pages are dropped (they fault back in from the page cache at the next pass).
  memory::BlockSchedule schedule{unet_blocks_};
  // The block's mapped pages, found once while its tensors are the home (mapped) ones.
  auto pages_of = [this](torch::nn::Module& m) -> const memory::MappedWeights& {
    auto it = block_pages_.find(&m);
    if (it == block_pages_.end()) it = block_pages_.emplace(&m, memory::MappedWeights::of(m)).first;
    return it->second;
  };
  memory::BlockHooks hooks;
  hooks.before = [this, schedule, cpu, streaming, pages_of](torch::nn::Module& m) {
    const memory::MappedWeights& pages = pages_of(m);
    // Streaming with a cast: the staged copy is what runs, so the stored pages can go now.
    if (stager_.stage(m) && cpu && streaming) pages.release();
    if (torch::nn::Module* next = schedule.next_after(&m)) stager_.prefetch(*next);
  };
  hooks.after = [this, cpu, streaming, pages_of](torch::nn::Module& m) {
    stager_.unstage(m);
    if (cpu && streaming) pages_of(m).release();
  };
  return unet_->forward(in, {}, plan, &hooks);
}

void I2VGenXLPipeline::unstage_component(torch::nn::Module& m, const memory::ExecPlan& plan) {
  const bool keep = !options_.device.is_cpu() && plan.residency == memory::Residency::Resident;
  if (!keep) stager_.unstage(m);
}

void I2VGenXLPipeline::begin_denoising(const memory::ExecPlan& plan) {
  if (options_.device.is_cpu()) return;  // mapped weights; per-block casts happen in run_unet
  if (plan.residency == memory::Residency::StreamBlocks) {
    stager_.unstage(*unet_);  // a whole UNet staged by an earlier plan
    if (!unet_pinned_) {
      for (auto* block : unet_blocks_) memory::WeightStager::pin_home(*block);
      unet_pinned_ = true;
    }
    return;
  }
  stager_.stage(*unet_);  // Resident and OnDemand: the whole UNet on the device
  unet_pages_.release();  // its host pages are not read while it is there
}

void I2VGenXLPipeline::end_denoising(const memory::ExecPlan& plan) {
  if (options_.device.is_cpu() || plan.residency != memory::Residency::Resident) {
    stager_.unstage(*unet_);
    for (auto* block : unet_blocks_) stager_.unstage(*block);
    stager_.drop_prefetches();
  }
  unet_pages_.release();  // the decoder runs without the UNet resident
}

GenerationResult I2VGenXLPipeline::generate(const GenerationRequest& r,
                                            const GenerationHooks& hooks) {
  validate(r);
  torch::NoGradGuard no_grad;
  GenerationResult result;
  memory::MemoryLog own_log;
  memory::MemoryLog& mlog = hooks.memory_log ? *hooks.memory_log : own_log;
  const bool cfg = r.guidance_scale > 1.0;
  const int64_t f = r.num_frames;
  const int64_t h = r.height / vae_scale_factor(), w = r.width / vae_scale_factor();
  const int64_t c = unet_->config().in_channels;
  at::manual_seed(static_cast<uint64_t>(r.seed));
  memory::ExecPlan plan = r.plan;
  size_t next_fallback = 0;

  // Conditions, batch order [unconditional, conditional].
  auto t0 = Clock::now();
  at::Tensor text;
  {
    Stage stage(mlog, "text");
    if (!text_encoder_) load_text_encoder();
    stager_.stage(*text_encoder_);  // CPU: nothing to copy, loaded in the compute dtype
    at::Tensor prompt = encode_prompt(r.prompt, hooks, "prompt_");
    dump(hooks, "prompt_embeds", prompt);
    text = prompt;
    if (cfg) {
      at::Tensor negative = encode_prompt(r.negative_prompt, hooks, "negative_");
      dump(hooks, "negative_prompt_embeds", negative);
      text = at::cat({negative, prompt});
    }
    unstage_component(*text_encoder_, plan);
    if (!stager_.is_staged(*text_encoder_)) release_text_encoder();
  }
  result.stage_seconds["text_encode"] = since(t0);

  t0 = Clock::now();
  at::Tensor image_embeddings;
  {
    Stage stage(mlog, "image");
    if (!image_encoder_) load_image_encoder();
    stager_.stage(*image_encoder_);
    at::Tensor embeds = encode_image(r.image, r.width, hooks).unsqueeze(1);
    image_embeddings = cfg ? at::cat({at::zeros_like(embeds), embeds}) : embeds;
    dump(hooks, "image_embeddings", image_embeddings);
    unstage_component(*image_encoder_, plan);
    if (!stager_.is_staged(*image_encoder_)) release_image_encoder();
  }
  result.stage_seconds["image_encode"] = since(t0);

  // Noise: drawn in the order of the reference (initial noise first, then the VAE's sample).
  at::Tensor noise = r.initial_noise;
  if (!noise.defined()) noise = at::randn({1, c, f, h, w}, at::kFloat);
  if (noise.sizes() != at::IntArrayRef({1, c, f, h, w})) {
    throw ShapeError("initial_noise must be (1, " + std::to_string(c) + ", " + std::to_string(f) +
                     ", " + std::to_string(h) + ", " + std::to_string(w) + ")");
  }
  dump(hooks, "initial_noise", noise);
  const at::Device dev = options_.device;

  t0 = Clock::now();
  at::Tensor latents_cond;
  {
    Stage stage(mlog, "vae_encode");
    stager_.stage(*vae_);
    latents_cond = image_latents(r.image, r.width, r.height, r.num_frames, r.vae_posterior_noise,
                                 hooks, tiling_of(plan));
    dump(hooks, "image_latents", cfg ? at::cat({latents_cond, latents_cond}) : latents_cond);
    unstage_component(*vae_, plan);
    vae_pages_.release();  // the decoder's pages come back at decode time
  }
  result.stage_seconds["vae_encode"] = since(t0);

  scheduler_->set_timesteps(r.num_inference_steps);
  std::vector<int64_t> steps = scheduler_->timesteps();
  dump(hooks, "timesteps", at::tensor(steps, at::kLong));
  // float32 master copy (the noise is drawn on the CPU: the same video on every device)
  at::Tensor latents = noise.to(dev) * scheduler_->init_noise_sigma();
  const at::ScalarType dt = options_.dtype;
  // The conditions in the compute dtype, batch [uncond, cond] (or [cond] without guidance).
  const at::Tensor text_c = text.to(dt), image_emb_c = image_embeddings.to(dt);
  const at::Tensor lat_c = latents_cond.to(dt);

  // One guided prediction (float32) under `p`: a batch-2 pass, or two batch-1 passes.
  auto predict = [&](const at::Tensor& x, int64_t t, const memory::ExecPlan& p,
                     at::Tensor* uncond_out, at::Tensor* cond_out) {
    const at::TensorOptions longs = at::TensorOptions().dtype(at::kLong).device(dev);
    const at::Tensor ts = at::scalar_tensor(t, longs);
    if (!cfg) {
      return run_unet(
                 {x.to(dt), ts, at::full({1}, r.target_fps, longs), lat_c, image_emb_c, text_c}, p)
          .to(at::kFloat);
    }
    at::Tensor pu, pc;
    if (p.sequential_cfg) {
      const at::Tensor fps1 = at::full({1}, r.target_fps, longs);
      const at::Tensor xd = x.to(dt);
      pu = run_unet({xd, ts, fps1, lat_c, image_emb_c.slice(0, 0, 1), text_c.slice(0, 0, 1)}, p)
               .to(at::kFloat);
      pc = run_unet({xd, ts, fps1, lat_c, image_emb_c.slice(0, 1, 2), text_c.slice(0, 1, 2)}, p)
               .to(at::kFloat);
    } else {
      at::Tensor pred = run_unet({at::cat({x, x}).to(dt), ts, at::full({2}, r.target_fps, longs),
                                  at::cat({lat_c, lat_c}), image_emb_c, text_c},
                                 p)
                            .to(at::kFloat);
      auto halves = pred.chunk(2);
      pu = halves[0];
      pc = halves[1];
    }
    *uncond_out = pu;
    *cond_out = pc;
    return at::Tensor(pu + r.guidance_scale * (pc - pu));
  };

  t0 = Clock::now();
  {
    Stage stage(mlog, "unet");
    begin_denoising(plan);
    for (size_t i = 0; i < steps.size(); ++i) {
      if (hooks.cancelled && hooks.cancelled()) throw CancelledError();
      auto ts = Clock::now();
      const std::string p = "step" + std::to_string(i) + ".";
      dump(hooks, p + "latents", latents);
      at::Tensor pred, pu, pc;
      // The fallback ladder: an allocation failure redoes only this step with the next plan.
      for (;;) {
        try {
          if (hooks.before_unet) hooks.before_unet(static_cast<int>(i + 1), plan);
          pred = predict(latents, steps[i], plan, &pu, &pc);
          break;
        } catch (const std::exception& e) {
          if (!is_out_of_memory(e) || next_fallback >= r.fallback.size()) throw;
          const memory::ExecPlan& next = r.fallback[next_fallback++];
          nlohmann::json d = {{"step", static_cast<int>(i + 1)},
                              {"from", plan.name},
                              {"to", next.name},
                              {"reason", e.what()}};
          spdlog::warn(
              "[Memory] step {}/{}: allocation failed under plan '{}' ({}); redoing the "
              "step with plan '{}'",
              i + 1, steps.size(), plan.name, e.what(), next.name);
          mlog.event("downgrade", d);
          result.downgrades.push_back(d);
          end_denoising(plan);
          plan = next;
          memory::trim_heap();
          begin_denoising(plan);
        }
      }
      if (cfg) {
        dump(hooks, p + "noise_pred_uncond", pu);
        dump(hooks, p + "noise_pred_text", pc);
      }
      dump(hooks, p + "noise_pred", pred);
      auto out = scheduler_->step(to_frames(pred), steps[i], to_frames(latents));
      dump(hooks, p + "pred_original_sample", out.pred_original_sample);
      latents = from_frames(out.prev_sample, latents.size(0), f);
      dump(hooks, p + "latents_out", latents);
      mlog.step(static_cast<int>(i + 1), static_cast<int>(steps.size()));
      if (hooks.on_step) {
        hooks.on_step({static_cast<int>(i + 1), static_cast<int>(steps.size()), since(ts),
                       latents.to(at::kCPU),
                       from_frames(out.pred_original_sample, latents.size(0), f).to(at::kCPU)});
      }
    }
    end_denoising(plan);
  }
  dump(hooks, "final_latents", latents);
  result.stage_seconds["denoise"] = since(t0);
  result.final_plan = plan;

  t0 = Clock::now();
  {
    Stage stage(mlog, "vae_decode");
    stager_.stage(*vae_);
    const int chunk =
        plan.vae_decode_chunk > 0 ? static_cast<int>(plan.vae_decode_chunk) : r.decode_chunk_size;
    at::Tensor z = (latents / vae_->config().scaling_factor).to(options_.dtype);
    at::Tensor video =
        vae::decode_frames(*vae_, z, chunk, tiling_of(plan)).to(at::kCPU, at::kFloat);
    unstage_component(*vae_, plan);
    dump(hooks, "decoded_video", video);
    at::Tensor frames = (video / 2 + 0.5).clamp(0, 1).permute({0, 2, 3, 4, 1});  // (B,F,H,W,3)
    dump(hooks, "frames_float", frames);
    at::Tensor u8 = (frames * 255).round().to(at::kByte);
    dump(hooks, "frames_uint8", u8);
    result.frames = u8[0].contiguous();
    if (plan.residency == memory::Residency::StreamBlocks) vae_pages_.release();
  }
  result.stage_seconds["vae_decode"] = since(t0);
  result.stage_memory = mlog.stages_json();
  return result;
}

}  // namespace i2v::pipeline
