#include "i2v/pipeline/i2v_pipeline.h"

#include <chrono>

#include <torch/csrc/autograd/grad_mode.h>

#include "i2v/models/clip/clip_loading.h"
#include "i2v/models/vae/decode_frames.h"
#include "i2v/models/vae/vae_loading.h"
#include "i2v/weights/image_processor_config.h"
#include "i2v/weights/scheduler_config.h"

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

}  // namespace

I2VGenXLPipeline::I2VGenXLPipeline(weights::ModelDir dir, const PipelineOptions& options)
    : dir_(std::move(dir)), options_(options) {}

I2VGenXLPipeline I2VGenXLPipeline::load(const std::string& model, const PipelineOptions& options) {
  if (options.dtype != at::kFloat && options.dtype != at::kBFloat16) {
    throw ConfigError("the pipeline computes in fp32 or bf16");
  }
  I2VGenXLPipeline p(weights::ModelDir::open(model), options);
  torch::NoGradGuard no_grad;
  p.tokenizer_ = std::make_shared<text::ClipTokenizer>(
      text::ClipTokenizer::from_folder(p.dir_.component_dir("tokenizer")));
  clip::ClipLoadOptions clip_opts;
  clip_opts.dtype = options.dtype;
  clip_opts.variant = options.variant;
  p.text_encoder_ = clip::load_clip_text_model(p.dir_, clip_opts);
  p.image_encoder_ = clip::load_clip_vision_model(p.dir_, clip_opts);
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
  p.vae_ = vae::load_autoencoder_kl(p.dir_, vae_opts);
  p.unet_ = unet::I2VGenXLUNet(
      unet::UNetConfig::from_json(p.dir_.config("unet"), p.dir_.config_path("unet").string()));
  p.unet_->to(options.dtype);
  weights::VariantPolicy policy;
  policy.mode = options.variant;
  policy.compute_dtype = options.dtype;
  weights::LoadOptions load;
  load.dtype = options.dtype;
  p.dir_.load_into(*p.unet_, "unet", policy, load);
  p.unet_->eval();
  p.scheduler_ = std::make_unique<schedulers::DDIMScheduler>(
      weights::DDIMSchedulerConfig::load(p.dir_.config_path("scheduler")));
  return p;
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
  if (r.image.width < 1 || r.image.height < 1) bad("the input image is empty");
}

at::Tensor I2VGenXLPipeline::encode_prompt(const std::string& text, const GenerationHooks& hooks,
                                           const std::string& prefix) {
  at::Tensor ids = tokenizer_->input_ids_tensor({text});
  dump(hooks, prefix + "input_ids", ids);
  // The penultimate layer through the final LayerNorm (clip_skip 1, the pipeline's default).
  at::Tensor embeds = text_encoder_->prompt_embeds(ids, 1);
  return embeds;
}

at::Tensor I2VGenXLPipeline::encode_image(const image::RgbImage& img, int width,
                                          const GenerationHooks& hooks) {
  image::RgbImage crop = image::clip_input_image(img, width, clip_norm_);
  dump(hooks, "clip_input_image_uint8", image::to_uint8_tensor(crop));
  at::Tensor pixels = image::clip_pixel_values(crop, clip_norm_);
  dump(hooks, "clip_pixel_values", pixels);
  at::Tensor embeds = image_encoder_->image_embeds(pixels.to(options_.dtype));
  dump(hooks, "image_embeds", embeds);
  return embeds;
}

at::Tensor I2VGenXLPipeline::image_latents(const image::RgbImage& img, int width, int height,
                                           int num_frames, const at::Tensor& posterior_noise,
                                           const GenerationHooks& hooks) {
  image::RgbImage crop = image::vae_input_image(img, width, height);
  dump(hooks, "vae_input_image_uint8", image::to_uint8_tensor(crop));
  at::Tensor pixels = image::vae_pixel_values(crop);
  dump(hooks, "vae_input_image", pixels);
  vae::Posterior post = vae_->encode(pixels.to(options_.dtype));
  dump(hooks, "vae_posterior_mean", post.mean);
  dump(hooks, "vae_posterior_logvar", post.logvar);
  dump(hooks, "vae_posterior_std", post.std);
  at::Tensor noise = posterior_noise;
  if (!noise.defined()) noise = at::randn(post.mean.sizes(), at::kFloat);
  if (noise.sizes() != post.mean.sizes()) {
    throw ShapeError("vae_posterior_noise must have shape of the posterior mean");
  }
  dump(hooks, "vae_posterior_noise", noise);
  at::Tensor first = post.sample(noise.to(post.mean.scalar_type())) * vae_->config().scaling_factor;
  // Frame 0 is the encoded image; frames 1..F-1 are constant planes i / (F - 1).
  std::vector<at::Tensor> frames{first.unsqueeze(2)};
  for (int i = 1; i < num_frames; ++i) {
    frames.push_back(at::ones_like(first).unsqueeze(2) *
                     (static_cast<double>(i) / (num_frames - 1)));
  }
  return at::cat(frames, 2);
}

GenerationResult I2VGenXLPipeline::generate(const GenerationRequest& r,
                                            const GenerationHooks& hooks) {
  validate(r);
  torch::NoGradGuard no_grad;
  GenerationResult result;
  const bool cfg = r.guidance_scale > 1.0;
  const int64_t f = r.num_frames;
  const int64_t h = r.height / vae_scale_factor(), w = r.width / vae_scale_factor();
  const int64_t c = unet_->config().in_channels;
  at::manual_seed(static_cast<uint64_t>(r.seed));

  // Conditions, batch order [unconditional, conditional].
  auto t0 = Clock::now();
  at::Tensor prompt = encode_prompt(r.prompt, hooks, "prompt_");
  dump(hooks, "prompt_embeds", prompt);
  at::Tensor text = prompt;
  if (cfg) {
    at::Tensor negative = encode_prompt(r.negative_prompt, hooks, "negative_");
    dump(hooks, "negative_prompt_embeds", negative);
    text = at::cat({negative, prompt});
  }
  result.stage_seconds["text_encode"] = since(t0);

  t0 = Clock::now();
  at::Tensor embeds = encode_image(r.image, r.width, hooks).unsqueeze(1);
  at::Tensor image_embeddings = cfg ? at::cat({at::zeros_like(embeds), embeds}) : embeds;
  dump(hooks, "image_embeddings", image_embeddings);
  result.stage_seconds["image_encode"] = since(t0);

  // Noise: drawn in the order of the reference (initial noise first, then the VAE's sample).
  at::Tensor noise = r.initial_noise;
  if (!noise.defined()) noise = at::randn({1, c, f, h, w}, at::kFloat);
  if (noise.sizes() != at::IntArrayRef({1, c, f, h, w})) {
    throw ShapeError("initial_noise must be (1, " + std::to_string(c) + ", " + std::to_string(f) +
                     ", " + std::to_string(h) + ", " + std::to_string(w) + ")");
  }
  dump(hooks, "initial_noise", noise);

  t0 = Clock::now();
  at::Tensor latents_cond =
      image_latents(r.image, r.width, r.height, r.num_frames, r.vae_posterior_noise, hooks);
  at::Tensor image_lat = cfg ? at::cat({latents_cond, latents_cond}) : latents_cond;
  dump(hooks, "image_latents", image_lat);
  result.stage_seconds["vae_encode"] = since(t0);

  scheduler_->set_timesteps(r.num_inference_steps);
  std::vector<int64_t> steps = scheduler_->timesteps();
  dump(hooks, "timesteps", at::tensor(steps, at::kLong));
  at::Tensor latents = noise * scheduler_->init_noise_sigma();  // float32 master copy
  at::Tensor fps = at::full({cfg ? 2 : 1}, r.target_fps, at::kLong);

  t0 = Clock::now();
  for (size_t i = 0; i < steps.size(); ++i) {
    if (hooks.cancelled && hooks.cancelled()) throw CancelledError();
    auto ts = Clock::now();
    const std::string p = "step" + std::to_string(i) + ".";
    dump(hooks, p + "latents", latents);
    at::Tensor input = cfg ? at::cat({latents, latents}) : latents;
    unet::UNetInputs in{input.to(options_.dtype),
                        at::scalar_tensor(steps[i], at::kLong),
                        fps,
                        image_lat.to(options_.dtype),
                        image_embeddings.to(options_.dtype),
                        text.to(options_.dtype)};
    at::Tensor pred = unet_->forward(in).to(at::kFloat);
    if (cfg) {
      auto halves = pred.chunk(2);
      dump(hooks, p + "noise_pred_uncond", halves[0]);
      dump(hooks, p + "noise_pred_text", halves[1]);
      pred = halves[0] + r.guidance_scale * (halves[1] - halves[0]);
    }
    dump(hooks, p + "noise_pred", pred);
    auto out = scheduler_->step(to_frames(pred), steps[i], to_frames(latents));
    dump(hooks, p + "pred_original_sample", out.pred_original_sample);
    latents = from_frames(out.prev_sample, latents.size(0), f);
    dump(hooks, p + "latents_out", latents);
    if (hooks.on_step) {
      hooks.on_step({static_cast<int>(i + 1), static_cast<int>(steps.size()), since(ts), latents,
                     from_frames(out.pred_original_sample, latents.size(0), f)});
    }
  }
  dump(hooks, "final_latents", latents);
  result.stage_seconds["denoise"] = since(t0);

  t0 = Clock::now();
  at::Tensor z = (latents / vae_->config().scaling_factor).to(options_.dtype);
  at::Tensor video = vae::decode_frames(*vae_, z, r.decode_chunk_size).to(at::kFloat);
  dump(hooks, "decoded_video", video);
  at::Tensor frames = (video / 2 + 0.5).clamp(0, 1).permute({0, 2, 3, 4, 1});  // (B, F, H, W, 3)
  dump(hooks, "frames_float", frames);
  at::Tensor u8 = (frames * 255).round().to(at::kByte);
  dump(hooks, "frames_uint8", u8);
  result.frames = u8[0].contiguous();
  result.stage_seconds["vae_decode"] = since(t0);
  return result;
}

}  // namespace i2v::pipeline
