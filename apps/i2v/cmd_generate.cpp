// `i2v generate`: image + prompt -> video file, with a metadata JSON beside it.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>
#include <random>

#include "command_registry.h"
#include "default_model.h"
#include "device_option.h"
#include "i2v/core/error.h"
#include "i2v/core/runtime.h"
#include "i2v/image/decode.h"
#include "i2v/io/safetensors.h"
#include "i2v/memory/memory_log.h"
#include "i2v/memory/memory_stats.h"
#include "i2v/memory/planner.h"
#include "i2v/pipeline/i2v_pipeline.h"
#include "i2v/pipeline/model_facts.h"
#include "i2v/video/video_writer.h"
#include "precision.h"

namespace i2v::cli {
namespace {
namespace fs = std::filesystem;

struct GenerateArgs {
  std::string model, image, prompt, negative_prompt, resolution, precision = "auto";
  std::string output, config, noise, dump, variant = "auto";
  int width = 0, height = 0, frames = 16, fps = 8, steps = 50, chunk = 1;
  double guidance = 9.0;
  int64_t seed = -1;
  bool overwrite = false;
  // Memory (issue 5): plan, budget, enforcement, chunk overrides, log path.
  std::string plan = "auto", memory_budget, memory_log, residency, device = "cpu";
  bool enforce_budget = false, sequential_cfg = false;
  int64_t frame_chunk = -1, temporal_chunk = -1, vae_tile = 0;
  double vae_tile_overlap = 0.25;
};

void apply_resolution(GenerateArgs& a) {
  if (a.resolution.empty()) return;
  static const std::map<std::string, int> sizes = {
      {"256p", 256}, {"512p", 512}, {"768p", 768}, {"1024p", 1024}};
  auto it = sizes.find(a.resolution);
  if (it == sizes.end()) throw ConfigError("--resolution must be 256p, 512p, 768p or 1024p");
  if (a.width == 0) a.width = it->second;
  if (a.height == 0) a.height = it->second;
}

// Values from --config YAML fill the options the command line did not set.
void apply_yaml(CLI::App& cmd, const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw ConfigError("cannot read config " + path + ": " + e.what());
  }
  if (!root.IsMap()) throw ConfigError("config " + path + " is not a mapping of option: value");
  for (const auto& kv : root) {
    std::string key = kv.first.as<std::string>();
    CLI::Option* opt = nullptr;
    try {
      opt = cmd.get_option("--" + key);
    } catch (const CLI::OptionNotFound&) {
      throw ConfigError("config " + path + ": unknown option '" + key + "'");
    }
    if (opt->count() > 0) continue;  // the command line wins
    if (kv.second.IsSequence() || kv.second.IsMap()) {
      throw ConfigError("config " + path + ": '" + key + "' must be a single value");
    }
    std::string value = kv.second.as<std::string>();
    if (opt->get_type_size() == 0) {
      if (value == "true" || value == "yes" || value == "1") opt->add_result("true");
    } else {
      opt->add_result(value);
    }
    opt->run_callback();
  }
}

std::string progress_bar(int done, int total, double s_per_step) {
  const int width = 30;
  int filled = total > 0 ? done * width / total : 0;
  char buf[160];
  double eta = s_per_step * (total - done);
  std::snprintf(buf, sizeof buf, "\r[%s%s] %d/%d  %.2f s/step  ETA %.0f s ",
                std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(), done,
                total, s_per_step, eta);
  return buf;
}

RegisterCommand reg(10, [](CLI::App& app, std::function<int()>& run) {
  auto* cmd = app.add_subcommand("generate", "Turn an image and a prompt into a video");
  auto a = std::make_shared<GenerateArgs>();
  // A repeated option takes its last value (scripts can append overrides).
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("--model", a->model,
                  "Model folder or Hugging Face repo id in the local cache (default: the built-in "
                  "tiny random model)");
  cmd->add_option("--image", a->image, "Input image (PNG, JPEG, WebP or BMP)")->required();
  cmd->add_option("--prompt", a->prompt, "What the video shows")->required();
  cmd->add_option("--negative-prompt", a->negative_prompt, "What to avoid");
  cmd->add_option("--width", a->width, "Video width in pixels (multiple of 8)");
  cmd->add_option("--height", a->height, "Video height in pixels (multiple of 8)");
  cmd->add_option("--resolution", a->resolution, "256p, 512p, 768p or 1024p (square)");
  cmd->add_option("--frames", a->frames, "Number of frames")->capture_default_str();
  cmd->add_option("--fps", a->fps, "Frame rate of the video and the fps condition")
      ->capture_default_str();
  cmd->add_option("--steps", a->steps, "Denoising steps")->capture_default_str();
  cmd->add_option("--guidance", a->guidance, "Classifier-free guidance scale (1 disables it)")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "Random seed (-1: pick one and record it)")
      ->capture_default_str();
  cmd->add_option("--decode-chunk-size", a->chunk, "Frames decoded per VAE call")
      ->capture_default_str();
  cmd->add_option("--precision", a->precision, "auto, fp32, bf16 or fp16")->capture_default_str();
  cmd->add_option("--variant", a->variant, "Weight files: auto, none, fp16 or bf16")
      ->capture_default_str();
  cmd->add_option("--output", a->output,
                  "Output .mp4, .webm, .gif, or a folder for PNG frames (default: "
                  "outputs/video_<time>.mp4)");
  cmd->add_flag("--overwrite", a->overwrite, "Replace an existing output");
  cmd->add_option("--config", a->config,
                  "YAML file of defaults (option: value); command-line flags take precedence");
  cmd->add_option("--noise", a->noise,
                  "safetensors with initial_noise and vae_posterior_noise to use instead of "
                  "drawing them (replaying a reference run)");
  cmd->add_option("--dump", a->dump, "Write every intermediate tensor to this safetensors file");
  cmd->add_option("--plan", a->plan,
                  "Execution plan: auto (fastest that fits --memory-budget; plain without one), "
                  "plain, chunked, chunked+seqcfg or stream")
      ->capture_default_str();
  cmd->add_option("--memory-budget", a->memory_budget,
                  "Memory the run may use, e.g. 6GiB: the planner picks the fastest plan that "
                  "fits, or refuses naming settings that would fit");
  cmd->add_flag("--enforce-budget", a->enforce_budget,
                "Make allocations beyond the budget fail, moving to the next cheaper plan");
  cmd->add_option("--frame-chunk", a->frame_chunk, "Override: rows of frames per-frame layers run");
  cmd->add_option("--temporal-chunk", a->temporal_chunk,
                  "Override: spatial positions temporal layers run at once");
  cmd->add_flag("--sequential-cfg", a->sequential_cfg,
                "Override: unconditional and conditional UNet passes one after the other");
  cmd->add_option("--residency", a->residency,
                  "Override: weight residency, resident, on-demand (GPU: each model on the device "
                  "only while it runs) or stream");
  cmd->add_option("--vae-tile", a->vae_tile,
                  "Tiled VAE encode/decode with tiles of this many pixels (APPROXIMATE: blended "
                  "tiles; for frames whose plain decode does not fit); 0 = off")
      ->capture_default_str();
  cmd->add_option("--vae-tile-overlap", a->vae_tile_overlap,
                  "Fraction of a VAE tile shared with its neighbour (0 to 0.5)")
      ->capture_default_str();
  cmd->add_option("--device", a->device, "cpu or cuda (cuda needs a CUDA build of libtorch)")
      ->capture_default_str();
  cmd->add_option("--memory-log", a->memory_log,
                  "JSON-lines memory log (default: <output>.memory.jsonl)");
  run = [a, cmd] {
    memory::install_counting_allocator();
    if (!a->config.empty()) apply_yaml(*cmd, a->config);
    apply_resolution(*a);
    if (a->width == 0) a->width = 512;
    if (a->height == 0) a->height = 512;
    const at::ScalarType dtype = parse_precision(a->precision);
    const at::Device device = parse_device(a->device);
    if (a->seed < 0) a->seed = static_cast<int64_t>(std::random_device{}() & 0x7fffffff);
    const std::string model = a->model.empty() ? ensure_default_model() : a->model;

    // Decide the output path first: an unwritable destination fails before minutes of work.
    fs::path out = a->output;
    if (out.empty()) {
      char stamp[32];
      std::time_t now = std::time(nullptr);
      std::strftime(stamp, sizeof stamp, "%Y%m%d_%H%M%S", std::localtime(&now));
      out = fs::path("outputs") / ("video_" + std::string(stamp) + ".mp4");
    }
    video::VideoWriteOptions vopts;
    vopts.fps = a->fps;
    vopts.overwrite = a->overwrite;
    const video::VideoFormat format = video::format_from_path(out);
    if (!a->overwrite) out = video::unique_output_path(out);
    if (!out.parent_path().empty()) fs::create_directories(out.parent_path());

    pipeline::GenerationRequest r;
    r.image = image::decode_image_file(a->image);
    r.prompt = a->prompt;
    r.negative_prompt = a->negative_prompt;
    r.width = a->width;
    r.height = a->height;
    r.num_frames = a->frames;
    r.target_fps = a->fps;
    r.num_inference_steps = a->steps;
    r.guidance_scale = a->guidance;
    r.seed = a->seed;
    r.decode_chunk_size = a->chunk;
    if (!a->noise.empty()) {
      auto noise = io::SafetensorsFile::open(a->noise);
      for (const char* name : {"initial_noise", "vae_posterior_noise"}) {
        if (!noise->contains(name)) throw FormatError(a->noise + " has no tensor '" + name + "'");
      }
      r.initial_noise = noise->tensor("initial_noise", at::kFloat);
      r.vae_posterior_noise = noise->tensor("vae_posterior_noise", at::kFloat);
    }

    // The plan: named, or chosen by the planner from the budget before anything loads.
    const int64_t budget = a->memory_budget.empty() ? 0 : memory::parse_bytes(a->memory_budget);
    const auto variant = weights::parse_variant_mode(a->variant);
    const memory::Shapes shapes = memory::Shapes::of(a->width, a->height, a->frames, a->guidance,
                                                     static_cast<int64_t>(c10::elementSize(dtype)),
                                                     a->chunk, device.is_cuda());
    const memory::ModelFacts facts =
        pipeline::model_facts(weights::ModelDir::open(model), dtype, variant);
    memory::PlanChoice choice;
    if (a->plan == "auto") {
      // On a GPU without a budget: the device's free memory, 10 % kept free.
      const int64_t gpu_free = shapes.gpu && budget == 0 ? memory::cuda_free_bytes() : 0;
      choice = gpu_free > 0 ? memory::plan_for(facts, shapes, gpu_free, 0.10)
                            : memory::plan_for(facts, shapes, budget);
      if (!choice.fits)
        throw ConfigError("--memory-budget " + a->memory_budget + ": " + choice.message);
    } else {
      choice.plan = memory::named_plan(a->plan);
      bool after = false;
      for (const auto& p : memory::standard_plans()) {
        if (after) choice.fallback.push_back(p);
        if (p.name == choice.plan.name) after = true;
      }
      choice.estimate = memory::estimate(facts, shapes, choice.plan);
    }
    if (a->frame_chunk >= 0) choice.plan.frame_chunk = a->frame_chunk;
    if (a->temporal_chunk >= 0) choice.plan.temporal_chunk = a->temporal_chunk;
    if (a->sequential_cfg) choice.plan.sequential_cfg = true;
    if (!a->residency.empty()) choice.plan.residency = memory::parse_residency(a->residency);
    if (a->vae_tile != 0) {
      // Approximate: applies to the fallback plans too (one tiling for the whole run).
      auto tile = [&](memory::ExecPlan& p) {
        p.vae_tile = a->vae_tile;
        p.vae_tile_overlap = a->vae_tile_overlap;
      };
      tile(choice.plan);
      for (auto& f : choice.fallback) tile(f);
      spdlog::warn(
          "[Memory] tiled VAE ({} px tiles): approximate, the frames differ from an "
          "untiled decode",
          a->vae_tile);
    }
    choice.estimate = memory::estimate(facts, shapes, choice.plan);
    r.plan = choice.plan;
    r.fallback = choice.fallback;
    spdlog::info("[Memory] plan '{}' predicted peak {}{}", r.plan.name,
                 memory::format_bytes(choice.estimate.peak),
                 budget > 0 ? " (budget " + memory::format_bytes(budget) + ")" : std::string());
    if (a->enforce_budget) {
      if (budget <= 0) throw ConfigError("--enforce-budget needs --memory-budget");
      // Counted bytes exclude the mapped weights: the allocator gets what they leave.
      const int64_t weights = r.plan.residency == memory::Residency::StreamBlocks
                                  ? facts.unet_block_bytes
                                  : facts.unet_bytes;
      memory::set_cpu_budget(std::max<int64_t>(
          int64_t{64} << 20, budget - memory::runtime_baseline_bytes() - weights));
    }
    fs::path log_path =
        a->memory_log.empty() ? fs::path(out.string() + ".memory.jsonl") : fs::path(a->memory_log);
    memory::MemoryLog mlog(log_path.string(), device.is_cuda());

    auto t_start = std::chrono::steady_clock::now();
    pipeline::PipelineOptions popts;
    popts.dtype = dtype;
    popts.variant = variant;
    popts.device = device;
    mlog.begin_stage("load");
    auto pipe = pipeline::I2VGenXLPipeline::load(model, popts);
    mlog.end_stage("load");
    pipe.validate(r);
    const double load_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    spdlog::info("model {} loaded in {:.1f} s ({}, {} threads)", pipe.model_dir().description(),
                 load_s, dtype == at::kBFloat16 ? "bf16" : "fp32", at::get_num_threads());

    std::vector<std::pair<std::string, at::Tensor>> dumped;
    pipeline::GenerationHooks hooks;
    hooks.memory_log = &mlog;
    const bool tty = isatty(STDERR_FILENO);
    hooks.on_step = [tty](const pipeline::StepProgress& p) {
      if (tty) {
        std::cerr << progress_bar(p.step, p.total, p.seconds) << std::flush;
        if (p.step == p.total) std::cerr << "\n";
      } else {
        spdlog::info("step {}/{}: {:.2f} s/step, ETA {:.0f} s", p.step, p.total, p.seconds,
                     p.seconds * (p.total - p.step));
      }
    };
    if (!a->dump.empty()) {
      hooks.dump = [&dumped](const std::string& name, const at::Tensor& t) {
        dumped.emplace_back(name, t.detach().to(at::kCPU).contiguous().clone());
      };
    }
    pipeline::GenerationResult result = pipe.generate(r, hooks);

    auto t_write = std::chrono::steady_clock::now();
    video::write_video(result.frames, out, vopts);
    result.stage_seconds["write_video"] =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_write).count();
    if (!a->dump.empty()) io::save_safetensors(a->dump, dumped);

    nlohmann::json meta = {
        {"output", out.string()},
        {"format", a->output.empty() ? "mp4" : fs::path(out).extension().string()},
        {"model", pipe.model_dir().description()},
        {"image", a->image},
        {"prompt", a->prompt},
        {"negative_prompt", a->negative_prompt},
        {"width", a->width},
        {"height", a->height},
        {"frames", a->frames},
        {"fps", a->fps},
        {"steps", a->steps},
        {"guidance", a->guidance},
        {"seed", a->seed},
        {"decode_chunk_size", a->chunk},
        {"precision", dtype == at::kBFloat16 ? "bf16" : "fp32"},
        {"noise_file", a->noise},
        {"load_seconds", load_s},
        {"stage_seconds", result.stage_seconds},
        {"peak_rss_bytes", peak_rss_bytes()},
        {"memory",
         {{"plan", r.plan.to_json()},
          {"final_plan", result.final_plan.to_json()},
          {"downgrades", result.downgrades},
          {"budget_bytes", budget},
          {"enforced", a->enforce_budget},
          {"predicted_peak_bytes", choice.estimate.peak},
          {"peak_rss_bytes", memory::process_peak_rss_bytes()},
          {"stages", mlog.stages_json()},
          {"log", log_path.string()}}},
        {"threads", at::get_num_threads()},
        {"version", version_report()}};
    (void)format;
    fs::path meta_path = out;
    meta_path += ".json";
    std::ofstream(meta_path) << meta.dump(2) << "\n";
    const double total =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    spdlog::info("wrote {} ({} frames, {}x{}) in {:.1f} s, peak RSS {:.0f} MiB; metadata {}",
                 out.string(), a->frames, a->width, a->height, total, peak_rss_bytes() / 1048576.0,
                 meta_path.string());
    return 0;
  };
});

}  // namespace
}  // namespace i2v::cli
