#include "i2v/train/lora_trainer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "i2v/error.h"
#include "i2v/image/rgb_image.h"
#include "i2v/io/safetensors.h"
#include "i2v/memory/memory_stats.h"
#include "i2v/models/unet/unet_loading.h"
#include "i2v/pipeline/i2v_pipeline.h"
#include "i2v/schedulers/ddim_scheduler.h"
#include "i2v/train/adamw.h"
#include "i2v/train/diffusion_objective.h"
#include "i2v/train/trainable_lora.h"
#include "i2v/train/training_data.h"
#include "i2v/weights/scheduler_config.h"

namespace i2v::train {
namespace fs = std::filesystem;
namespace {

void check(const TrainLoraOptions& o) {
  if (o.steps < 1 || o.steps > 10'000'000) throw ConfigError("--steps must be at least 1");
  if (!(o.lr > 0) || o.lr > 1 || !std::isfinite(o.lr)) throw ConfigError("--lr must be in (0, 1]");
  if (o.weight_decay < 0 || !std::isfinite(o.weight_decay))
    throw ConfigError("weight decay must be >= 0");
  if (o.precision != "bf16" && o.precision != "fp32")
    throw ConfigError("--precision must be bf16 or fp32 (got '" + o.precision + "')");
  if (o.frames < 2 || o.frames > 64) throw ConfigError("--frames must be between 2 and 64");
  for (int v : {o.width, o.height})
    if (v < 64 || v > 2048 || v % 8 != 0)
      throw ConfigError("--width and --height must be multiples of 8 in [64, 2048]");
  if (o.save_every < 0) throw ConfigError("--save-every must be >= 0");
  if (o.checkpoint_layers != "all" && o.checkpoint_layers != "high-res")
    throw ConfigError("--checkpoint-layers must be all or high-res (got '" + o.checkpoint_layers +
                      "')");
  if (o.out.empty() || o.out.extension() != ".safetensors")
    throw ConfigError("--out must name a .safetensors file");
}

at::Generator step_generator(uint64_t seed, int64_t step) {
  return at::detail::createCPUGenerator(seed * 1000003ULL + static_cast<uint64_t>(step));
}

image::RgbImage frame_image(const at::Tensor& hwc) {
  const at::Tensor t = hwc.contiguous();
  image::RgbImage img(static_cast<int>(t.size(1)), static_cast<int>(t.size(0)));
  std::copy(t.data_ptr<uint8_t>(), t.data_ptr<uint8_t>() + t.numel(), img.pixels.begin());
  return img;
}

// Step 1 of the header: the clips as the UNet's inputs, with the encoders of the pipeline.
std::vector<TrainingExample> prepare_examples(const TrainLoraOptions& o, at::ScalarType dtype) {
  const std::vector<ClipSource> clips = find_training_clips(o.data);
  pipeline::PipelineOptions po;
  po.dtype = dtype;
  auto pipe = pipeline::I2VGenXLPipeline::load(o.model, po);
  std::vector<TrainingExample> out;
  for (size_t i = 0; i < clips.size(); ++i) {
    const at::Tensor frames = load_clip_frames(clips[i], o.frames, o.width, o.height);
    const image::RgbImage first = frame_image(frames[0]);
    at::Generator g = at::detail::createCPUGenerator(o.seed + 7919 * (i + 1));
    const int64_t s = pipe->vae_scale_factor();
    TrainingExample e;
    e.fps = o.target_fps;
    e.text_embeddings = pipe->encode_prompt(clips[i].caption);
    e.image_embeddings = pipe->encode_image(first, o.width).unsqueeze(1);
    const int64_t c = pipe->unet_config().in_channels;
    e.image_latents = pipe->image_latents(first, o.width, o.height, o.frames,
                                          at::randn({1, c, o.height / s, o.width / s}, g));
    e.latents = pipe->encode_frames(frames, at::randn({o.frames, c, o.height / s, o.width / s}, g))
                    .to(at::kFloat);
    out.push_back(std::move(e));
    spdlog::info("train-lora: clip {}/{} {} ({} frames) encoded", i + 1, clips.size(),
                 clips[i].path.filename().string(), o.frames);
  }
  return out;
}

nlohmann::json options_json(const TrainLoraOptions& o) {
  return {{"model", o.model},
          {"data", o.data.string()},
          {"rank", o.rank},
          {"alpha", o.alpha},
          {"steps", o.steps},
          {"lr", o.lr},
          {"weight_decay", o.weight_decay},
          {"targets", o.targets},
          {"gradient_checkpointing", o.gradient_checkpointing},
          {"checkpoint_layers", o.checkpoint_layers},
          {"precision", o.precision},
          {"frames", o.frames},
          {"width", o.width},
          {"height", o.height},
          {"target_fps", o.target_fps},
          {"seed", o.seed}};
}

// What must not change between a run and its --resume (the rest, e.g. --steps, may).
const char* const kResumeKeys[] = {"model",  "rank",  "alpha",  "targets", "precision",
                                   "frames", "width", "height", "seed"};

void write_text_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << text;
    f.flush();
    if (!f) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw IoError("cannot write " + path.string() + " (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw IoError("cannot write " + path.string() + ": " + ec.message());
}

}  // namespace

fs::path training_state_path(const fs::path& out) {
  fs::path p = out;
  p.replace_extension(".state.safetensors");
  return p;
}

fs::path training_log_path(const fs::path& out) {
  fs::path p = out;
  p.replace_extension(".log.json");
  return p;
}

TrainLoraReport train_lora(const TrainLoraOptions& o,
                           const std::function<void(const TrainStepInfo&)>& on_step,
                           const std::atomic<bool>* stop) {
  check(o);
  const at::ScalarType dtype = o.precision == "bf16" ? at::kBFloat16 : at::kFloat;
  const fs::path state_path = training_state_path(o.out), log_path = training_log_path(o.out);
  const nlohmann::json opts = options_json(o);

  // The saved state first: a --resume that cannot continue fails before the encoders run.
  std::map<std::string, at::Tensor> state;
  nlohmann::json log = {{"options", opts}, {"steps", nlohmann::json::array()}};
  int64_t done = 0;
  if (o.resume) {
    std::error_code ec;
    if (!fs::exists(state_path, ec))
      throw ConfigError("--resume: no training state " + state_path.string());
    auto file = io::SafetensorsFile::open(state_path);
    const auto meta = file->metadata();
    const auto saved = nlohmann::json::parse(meta.count("i2v_train") ? meta.at("i2v_train") : "{}");
    for (const char* k : kResumeKeys)
      if (saved["options"][k] != opts[k])
        throw ConfigError(std::string("--resume: --") + k + " differs from the saved run's (" +
                          saved["options"][k].dump() + ")");
    done = saved.value("steps_done", int64_t{0});
    state = io::load_safetensors(state_path, at::kFloat);
    if (fs::exists(log_path, ec)) {
      std::ifstream f(log_path);
      nlohmann::json old = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
      if (old.is_object() && old["steps"].is_array()) {
        for (const auto& s : old["steps"])
          if (s.value("step", int64_t{0}) <= done) log["steps"].push_back(s);
      }
    }
    if (done >= o.steps) spdlog::info("train-lora: the saved run already did {} steps", done);
  }

  if (o.out.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(o.out.parent_path(), ec);
    if (ec) throw IoError("cannot create " + o.out.parent_path().string() + ": " + ec.message());
  }
  const std::vector<TrainingExample> examples = prepare_examples(o, dtype);
  const weights::ModelDir dir = weights::ModelDir::open(o.model);
  const schedulers::DDIMScheduler scheduler(
      weights::DDIMSchedulerConfig::load(dir.config_path("scheduler")));
  const DiffusionObjective objective(scheduler.alphas_cumprod(),
                                     scheduler.config().prediction_type);
  unet::UNetLoadOptions uo;
  uo.dtype = dtype;
  uo.keep_stored_dtype = false;  // training runs every layer in the compute precision
  TrainableLora lora(unet::load_i2vgen_xl_unet(dir, uo).unet, o.targets, o.rank, o.alpha, o.seed,
                     dtype);
  AdamW optimizer(lora.parameters(), {o.lr, 0.9, 0.999, 1e-8, o.weight_decay});
  if (o.resume) {
    lora.load_peft_tensors(state);
    std::vector<at::Tensor> m, v;
    for (const auto& [name, t] : lora.peft_tensors()) {
      if (name.size() > 6 && name.compare(name.size() - 6, 6, ".alpha") == 0) continue;
      if (!state.count("adam_m." + name) || !state.count("adam_v." + name))
        throw ConfigError("--resume: the training state lacks the optimizer moments of " + name);
      m.push_back(state.at("adam_m." + name));
      v.push_back(state.at("adam_v." + name));
    }
    optimizer.restore(done, m, v);
  }
  TrainLoraReport report;
  report.modules = static_cast<int64_t>(lora.modules().size());
  for (const auto& p : lora.parameters()) report.parameters += p.numel();
  report.first_step = static_cast<int>(done) + 1;
  report.steps_done = static_cast<int>(done);
  spdlog::info(
      "train-lora: {} layers adapted (rank {}, {} parameters), {} clip(s), objective {}, "
      "{}, gradient checkpointing {}",
      report.modules, o.rank, report.parameters, examples.size(), objective.prediction_type(),
      o.precision, o.gradient_checkpointing ? o.checkpoint_layers : "off");

  auto save = [&](int64_t steps_done) {
    const nlohmann::json info = {{"options", opts}, {"steps_done", steps_done}};
    auto tensors = lora.peft_tensors();
    io::save_safetensors(o.out, tensors,
                         {{"i2v_lora", "trained (i2v train-lora)"}, {"i2v_train", info.dump()}});
    const auto& m = optimizer.first_moments();
    const auto& v = optimizer.second_moments();
    size_t k = 0;
    std::vector<std::pair<std::string, at::Tensor>> st;
    for (const auto& [name, t] : tensors) {
      st.emplace_back(name, t);
      if (name.size() > 6 && name.compare(name.size() - 6, 6, ".alpha") == 0) continue;
      st.emplace_back("adam_m." + name, m[k]);
      st.emplace_back("adam_v." + name, v[k]);
      ++k;
    }
    io::save_safetensors(state_path, st, {{"i2v_train", info.dump()}});
    log["steps_done"] = steps_done;
    log["peak_rss_bytes"] = memory::process_peak_rss_bytes();
    write_text_atomically(log_path, log.dump(1));
  };

  // The fixed evaluation of the header's report (no gradients).
  auto eval_loss = [&] {
    const TrainingExample& e = examples.front();
    at::Generator g = at::detail::createCPUGenerator(o.seed + 104729);
    const int64_t n = objective.num_train_timesteps();
    double sum = 0;
    for (int k = 0; k < 4; ++k) {
      const int64_t t = (2 * k + 1) * n / 8;
      const NoisedSample s = objective.noise(e.latents, at::randn(e.latents.sizes(), g), t);
      sum += lora.loss(e, s.noisy, t, s.target);
    }
    return sum / 4;
  };
  report.eval_loss_before = eval_loss();
  report.rss_before_steps_bytes = memory::process_rss_bytes();
  memory::reset_sampled_peak_rss();
  std::vector<double> seconds;
  for (int64_t step = done + 1; step <= o.steps; ++step) {
    if (stop && stop->load()) {
      report.stopped = true;
      break;
    }
    const auto t0 = std::chrono::steady_clock::now();
    const TrainingExample& e = examples[static_cast<size_t>(step - 1) % examples.size()];
    // high-res: only the layers at the latents' own size (the UNet's first level).
    const int64_t checkpoint_min_positions =
        o.checkpoint_layers == "high-res" ? e.latents.size(-1) * e.latents.size(-2) : 0;
    at::Generator g = step_generator(o.seed, step);
    const int64_t t =
        at::randint(objective.num_train_timesteps(), {1}, g, at::kLong).item<int64_t>();
    const at::Tensor noise = at::randn(e.latents.sizes(), g);
    const NoisedSample s = objective.noise(e.latents, noise, t);
    const LossAndGradients lg = lora.loss_and_gradients(
        e, s.noisy, t, s.target, o.gradient_checkpointing, checkpoint_min_positions);
    optimizer.step(lg.gradients);
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    seconds.push_back(sec);
    report.losses.push_back(lg.loss);
    report.steps_done = static_cast<int>(step);
    log["steps"].push_back({{"step", step}, {"loss", lg.loss}, {"timestep", t}, {"seconds", sec}});
    if (on_step) on_step({static_cast<int>(step), o.steps, lg.loss, t, sec});
    if (o.save_every > 0 && step % o.save_every == 0 && step < o.steps) save(step);
  }
  report.peak_rss_steps_bytes =
      std::max(memory::sampled_peak_rss_bytes(), report.rss_before_steps_bytes);
  report.eval_loss_after = eval_loss();
  log["memory"] = {{"rss_before_steps_bytes", report.rss_before_steps_bytes},
                   {"peak_rss_steps_bytes", report.peak_rss_steps_bytes}};
  log["eval_loss"] = {{"before", report.eval_loss_before}, {"after", report.eval_loss_after}};
  save(report.steps_done);
  if (!seconds.empty()) {
    std::sort(seconds.begin(), seconds.end());
    report.seconds_per_step = seconds[seconds.size() / 2];
  }
  report.peak_rss_bytes = memory::process_peak_rss_bytes();
  return report;
}

}  // namespace i2v::train
