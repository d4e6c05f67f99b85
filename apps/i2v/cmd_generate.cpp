// `i2v generate`: image + prompt -> video file, with a metadata JSON beside it.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include "command_registry.h"
#include "default_model.h"
#include "i2v/i2v.h"
#include "i2v/memory/memory_stats.h"
#include "i2v/video/video_writer.h"

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
  std::vector<std::string> loras;  // FILE[:SCALE], repeatable
  std::string lora_mode = "auto";
  int window = -1, window_stride = 4;  // frame windows for long videos
  std::string window_fuse = "pyramid", noise_type = "random";
};

// FILE[:SCALE]: the text after the last ':' is the scale when it is a number.
Lora parse_lora_option(const std::string& spec) {
  Lora l;
  l.path = spec;
  const size_t colon = spec.rfind(':');
  if (colon != std::string::npos && colon + 1 < spec.size()) {
    const std::string tail = spec.substr(colon + 1);
    char* end = nullptr;
    const double v = std::strtod(tail.c_str(), &end);
    if (end && *end == '\0') {
      l.path = spec.substr(0, colon);
      l.scale = v;
    }
  }
  if (l.path.empty()) throw ConfigError("--lora needs a file: --lora FILE[:SCALE]");
  return l;
}

void apply_resolution(GenerateArgs& a) {
  if (a.resolution.empty()) return;
  const int px = resolution_pixels(a.resolution);
  if (px == 0) throw ConfigError("--resolution must be 256p, 512p, 768p or 1024p");
  if (a.width == 0) a.width = px;
  if (a.height == 0) a.height = px;
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
    const bool many = opt->get_multi_option_policy() == CLI::MultiOptionPolicy::TakeAll;
    if (many && kv.second.IsSequence()) {  // lora: [a.safetensors, b.safetensors:0.5]
      for (const auto& item : kv.second) opt->add_result(item.as<std::string>());
      opt->run_callback();
      continue;
    }
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
  cmd->add_option("--window", a->window,
                  "Frames per UNet window for videos longer than the model's 16-frame clips "
                  "(APPROXIMATE: overlapping windows fused per frame; memory of one window). "
                  "-1 = 16 when --frames > 16, 0 = off (every frame at once, exact)")
      ->capture_default_str();
  cmd->add_option("--window-stride", a->window_stride, "Frames between window starts")
      ->capture_default_str();
  cmd->add_option("--window-fuse", a->window_fuse,
                  "Weights of a window's frames when fusing: pyramid or flat")
      ->capture_default_str();
  cmd->add_option("--noise-type", a->noise_type,
                  "Initial noise of long videos: random, or shuffle_context (FreeNoise: later "
                  "windows reuse shuffled noise of earlier frames)")
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
                  "Execution plan: auto (fastest that fits --memory-budget), packed (CPU, bf16: "
                  "weights packed once for all steps), plain, chunked, chunked+seqcfg or stream")
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
                  "only while it runs), stream or packed (CPU, bf16: the UNet's weights packed for "
                  "its kernels once per generation)");
  cmd->add_option("--vae-tile", a->vae_tile,
                  "Tiled VAE encode/decode with tiles of this many pixels (APPROXIMATE: blended "
                  "tiles; for frames whose plain decode does not fit); 0 = off")
      ->capture_default_str();
  cmd->add_option("--vae-tile-overlap", a->vae_tile_overlap,
                  "Fraction of a VAE tile shared with its neighbour (0 to 0.5)")
      ->capture_default_str();
  cmd->add_option("--device", a->device, "cpu or cuda (cuda needs a CUDA build of libtorch)")
      ->capture_default_str();
  cmd->add_option("--lora", a->loras,
                  "LoRA adapter FILE[:SCALE] (repeatable; diffusers/PEFT, attention-processor or "
                  "kohya safetensors)")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--lora-mode", a->lora_mode,
                  "auto (merged; 8-bit weights and the stream plan unmerged), merged or unmerged")
      ->capture_default_str();
  cmd->add_option("--memory-log", a->memory_log,
                  "JSON-lines memory log (default: <output>.memory.jsonl)");
  run = [a, cmd] {
    if (!a->config.empty()) apply_yaml(*cmd, a->config);
    apply_resolution(*a);
    if (a->width == 0) a->width = 512;
    if (a->height == 0) a->height = 512;

    ModelOptions m;
    m.model = a->model.empty() ? ensure_default_model() : a->model;
    m.precision = a->precision;
    m.variant = a->variant;
    m.device = a->device;
    m.memory_budget_bytes = a->memory_budget.empty() ? 0 : memory::parse_bytes(a->memory_budget);
    m.enforce_budget = a->enforce_budget;
    m.keep_packed_weights = false;  // one generation: nothing would reuse them

    Request r;
    r.prompt = a->prompt;
    r.negative_prompt = a->negative_prompt;
    r.width = a->width;
    r.height = a->height;
    r.frames = a->frames;
    r.fps = a->fps;
    r.steps = a->steps;
    r.guidance = a->guidance;
    r.seed = resolve_seed(a->seed);
    r.decode_chunk_size = a->chunk;
    r.window = a->window;
    r.window_stride = a->window_stride;
    r.window_fuse = a->window_fuse;
    if (a->noise_type != "random" && a->noise_type != "shuffle_context")
      throw ConfigError("--noise-type must be random or shuffle_context (got '" + a->noise_type +
                        "')");
    r.shuffle_noise = a->noise_type == "shuffle_context";
    r.plan = a->plan;
    r.overrides.frame_chunk = a->frame_chunk;
    r.overrides.temporal_chunk = a->temporal_chunk;
    r.overrides.sequential_cfg = a->sequential_cfg;
    r.overrides.residency = a->residency;
    r.overrides.vae_tile = a->vae_tile;
    r.overrides.vae_tile_overlap = a->vae_tile_overlap;
    r.noise_file = a->noise;
    r.dump_file = a->dump;
    for (const auto& spec : a->loras) r.loras.push_back(parse_lora_option(spec));
    r.lora_mode = a->lora_mode;

    // The output path first: an unwritable destination or a bad extension fails before minutes
    // of work.
    fs::path out = a->output.empty() ? fs::path(new_output_path("outputs")) : fs::path(a->output);
    video::format_from_path(out);
    if (!a->overwrite) out = video::unique_output_path(out);
    if (!out.parent_path().empty()) fs::create_directories(out.parent_path());
    r.memory_log_file = a->memory_log.empty() ? out.string() + ".memory.jsonl" : a->memory_log;
    r.image = Image::from_file(a->image);

    // The plan, before the model loads: refused early when nothing fits, naming what would.
    const Estimate e = estimate(m, r);
    if (!e.fits) {
      throw ConfigError((a->memory_budget.empty() ? std::string("not enough memory")
                                                  : "--memory-budget " + a->memory_budget) +
                        ": " + e.message);
    }

    Generator generator = Generator::open(m);
    Callbacks callbacks;
    const bool tty = isatty(STDERR_FILENO);
    callbacks.on_step = [tty](const Progress& p) {
      if (tty) {
        std::cerr << progress_bar(p.step, p.total, p.seconds) << std::flush;
        if (p.step == p.total) std::cerr << "\n";
      } else {
        spdlog::info("step {}/{}: {:.2f} s/step, ETA {:.0f} s", p.step, p.total, p.seconds,
                     p.eta_seconds);
      }
    };
    // Streaming output: each decoded chunk goes straight into the encoder (the video is never
    // held whole); the file appears under its name, with its metadata, when it is complete.
    SaveOptions save;
    save.overwrite = a->overwrite;
    VideoFileWriter writer(out.string(), r.fps, save);
    const auto t0 = std::chrono::steady_clock::now();
    callbacks.keep_frames = false;
    callbacks.on_frames = [&](int first, const Video& frames) {
      if (first == 0)
        spdlog::info("first frames decoded {:.1f} s after the start",
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      writer.append(frames);
    };
    const Result result = generator.generate(r, callbacks);
    const std::string written = writer.finish(result);
    spdlog::info("wrote {} ({} frames, {}x{}), peak RSS {:.0f} MiB; metadata {}.json", written,
                 writer.frames_written(), r.width, r.height, result.peak_memory_bytes / 1048576.0,
                 written);
    return 0;
  };
});

}  // namespace
}  // namespace i2v::cli
