// i2v::Generator: the one "generate a video" use case behind the public API. The CLI, the server,
// probe and the benches call this; the pipeline below it knows nothing of front ends.
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <list>
#include <mutex>

#include "i2v/api/image_conversion.h"
#include "i2v/api/metadata.h"
#include "i2v/api/option_parsing.h"
#include "i2v/api/plan_policy.h"
#include "i2v/core/limits.h"
#include "i2v/core/runtime.h"
#include "i2v/io/safetensors.h"
#include "i2v/lora/adapter_set.h"
#include "i2v/memory/memory_log.h"
#include "i2v/memory/memory_stats.h"
#include "i2v/memory/out_of_memory.h"
#include "i2v/pipeline/i2v_pipeline.h"
#include "i2v/pipeline/latent_preview.h"
#include "i2v/pipeline/model_facts.h"

namespace i2v {
namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// What a model's options resolve to, and the facts the estimator needs (configs and headers only).
struct ResolvedModel {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
  weights::VariantMode variant = weights::VariantMode::Auto;
  memory::ModelFacts facts;
};

ResolvedModel resolve(const ModelOptions& o) {
  if (o.model.empty()) throw ConfigError("ModelOptions.model: give a model folder or repo id");
  if (o.memory_budget_bytes < 0) throw ConfigError("the memory budget must not be negative");
  if (o.enforce_budget && o.memory_budget_bytes <= 0) {
    throw ConfigError("--enforce-budget needs --memory-budget");
  }
  ResolvedModel m;
  m.device = api::parse_device(o.device);
  m.dtype = api::parse_precision(o.precision, m.device);
  m.variant = weights::parse_variant_mode(o.variant);
  m.facts = pipeline::model_facts(weights::ModelDir::open(o.model), m.dtype, m.variant);
  return m;
}

// The request's frame windows: auto = the model's clip length when the video is longer.
pipeline::FrameWindows frame_windows(const Request& r) {
  constexpr int kModelClipFrames = 16;  // I2VGen-XL was trained on 16-frame clips
  if (r.window < -1) throw ConfigError("window must be -1 (auto), 0 (off) or a frame count");
  pipeline::FrameWindows w;
  w.length = r.window == -1 ? kModelClipFrames : r.window;
  w.stride = r.window_stride;
  w.fuse = pipeline::parse_window_fuse(r.window_fuse);
  w.shuffle_noise = r.shuffle_noise;
  pipeline::validate_windows(w);
  return w;
}

// What a Generator's options and past do to the plan: packed UNet weights it holds now (their
// bytes come back to a detected budget: the packed plan reuses them, another plan frees them
// first), and whether it keeps the copies it packs (then they serve its later generations).
struct GeneratorState {
  int64_t packed_bytes = 0;
  bool keeps_packed = false;
};

// stream_frames: the caller takes the frames as they are decoded and keeps none in the result.
memory::Shapes shapes_of(const Request& r, const ResolvedModel& m, bool stream_frames,
                         const GeneratorState& state) {
  memory::Shapes s = memory::Shapes::of(r.width, r.height, r.frames, r.guidance,
                                        static_cast<int64_t>(c10::elementSize(m.dtype)),
                                        r.decode_chunk_size, m.device.is_cuda());
  const pipeline::FrameWindows w = frame_windows(r);
  if (w.approximate(r.frames)) s.unet_frames = w.length;
  s.stream_frames = stream_frames;
  s.steps = r.steps;
  s.packed_kept = state.keeps_packed;
  s.packed_held = state.packed_bytes > 0;
  // Packing pays over the generations that share it: a Generator that keeps its copies packs at
  // its first generation (a server's first request pays it; every later one gains), and one that
  // holds copies already has paid.
  s.packing_reused = s.packed_held || s.packed_kept;
  return s;
}

// Of the predicted peak: the weights resident while the UNet runs.
int64_t resident_weights(const memory::ModelFacts& f, const memory::ExecPlan& plan) {
  if (plan.residency == memory::Residency::StreamBlocks) return f.unet_block_bytes;
  // Packed: the packed copies in place of the mapped pages, plus what they hold beyond them.
  const int64_t packed =
      plan.residency == memory::Residency::Packed ? memory::packed_weights_extra_bytes(f) : 0;
  return f.unet_bytes + packed + f.vae_bytes;
}

api::PlanDecision decide(const Request& r, const ResolvedModel& m, const ModelOptions& o,
                         bool stream_frames = false, const GeneratorState& state = {}) {
  check_limits(r, Limits{});
  return api::decide_plan(m.facts, shapes_of(r, m, stream_frames, state), r.plan, r.overrides,
                          o.memory_budget_bytes, state.packed_bytes);
}

// The model as a request runs it: a merged LoRA (modes auto and merged) holds one more copy of
// each weight it adapts, in the compute precision, beside the model's own (weights that auto
// leaves unmerged — 8-bit ones, the stream plan — are counted too: an upper bound).
ResolvedModel with_loras(ResolvedModel m, const lora::AdapterSet* set, const std::string& mode,
                         const lora::TargetCatalog& targets) {
  if (!set || lora::parse_mode(mode) == lora::Mode::Unmerged) return m;
  const int64_t element = static_cast<int64_t>(c10::elementSize(m.dtype));
  for (const auto& [component, adapters] : set->components) {
    int64_t bytes = 0;
    for (const auto& [name, list] : adapters) {
      int64_t n = 1;
      for (int64_t d : targets.at(component).at(name)) n *= d;
      bytes += n * element;
    }
    (component == "unet" ? m.facts.unet_bytes : m.facts.text_bytes) += bytes;
  }
  return m;
}

// The pipeline's request for the parts that are the user's (image, prompt, sizes, steps ...).
pipeline::GenerationRequest to_pipeline_request(const Request& request) {
  pipeline::GenerationRequest r;
  r.image = api::to_rgb_image(request.image);
  r.prompt = request.prompt;
  r.negative_prompt = request.negative_prompt;
  r.width = request.width;
  r.height = request.height;
  r.num_frames = request.frames;
  r.target_fps = request.fps;
  r.num_inference_steps = request.steps;
  r.guidance_scale = request.guidance;
  r.decode_chunk_size = request.decode_chunk_size;
  r.windows = frame_windows(request);
  return r;
}

// An enforced CPU budget for the duration of one generation (the previous one comes back).
class ScopedCpuBudget {
 public:
  explicit ScopedCpuBudget(int64_t bytes) : saved_(memory::cpu_budget()) {
    if (bytes > 0) memory::set_cpu_budget(bytes);
  }
  ~ScopedCpuBudget() { memory::set_cpu_budget(saved_); }

 private:
  int64_t saved_;
};

// Freed blocks kept for reuse during a generation go back to the system when it ends.
struct ReleaseCachedBlocksAtExit {
  ~ReleaseCachedBlocksAtExit() { memory::release_cached_blocks(); }
};

}  // namespace

std::string error_message(const std::exception& e) {
  if (dynamic_cast<const Error*>(&e) && !dynamic_cast<const memory::BudgetExceededError*>(&e)) {
    return e.what();
  }
  std::string what = e.what();
  if (auto* c = dynamic_cast<const c10::Error*>(&e)) what = c->what_without_backtrace();
  if (memory::is_out_of_memory(e)) {
    return "out of memory while generating, with no cheaper plan left (" + what.substr(0, 300) +
           "): try a smaller resolution, fewer frames, --plan stream, or close other programs";
  }
  if (dynamic_cast<const c10::Error*>(&e)) return "libtorch error: " + what.substr(0, 500);
  return "generation failed: " + what;
}

struct Generator::Impl {
  ModelOptions options;
  ResolvedModel model;
  std::unique_ptr<pipeline::I2VGenXLPipeline> pipe;
  double load_seconds = 0;
  std::atomic<bool> cancel{false};
  // Written by the generating thread, read by any (estimate and describe_json run beside a
  // generation in the server): the packed weights' bytes as the last generation left them (the
  // pipeline's own state is only touched by generate).
  std::atomic<int64_t> packed_bytes{0};

  GeneratorState state() const {
    GeneratorState s;
    s.packed_bytes = packed_bytes.load();
    s.keeps_packed = options.keep_packed_weights;
    return s;
  }

  // LoRA files read once per (path, size, modification time); the few most recent are kept.
  struct CachedLora {
    std::string path;
    uintmax_t size = 0;
    std::filesystem::file_time_type mtime;
    std::shared_ptr<const lora::LoraFile> file;
  };
  mutable std::mutex lora_mutex;
  mutable std::list<CachedLora> lora_files;  // most recent first

  nlohmann::json describe() const;
  std::shared_ptr<const lora::LoraFile> lora_file(const std::string& path) const;
  // The request's LoRAs matched against the model; null without LoRAs.
  std::shared_ptr<const lora::AdapterSet> adapters_for(const Request& r) const;
};

std::shared_ptr<const lora::LoraFile> Generator::Impl::lora_file(const std::string& path) const {
  std::error_code ec;
  const uintmax_t size = std::filesystem::file_size(path, ec);
  const auto mtime = std::filesystem::last_write_time(path, ec);
  if (ec) throw IoError("LoRA file " + path + " cannot be read: " + ec.message());
  std::lock_guard<std::mutex> lock(lora_mutex);
  for (auto it = lora_files.begin(); it != lora_files.end(); ++it) {
    if (it->path == path && it->size == size && it->mtime == mtime) {
      lora_files.splice(lora_files.begin(), lora_files, it);
      return it->file;
    }
  }
  auto file = std::make_shared<const lora::LoraFile>(lora::read_lora_file(path));
  lora_files.remove_if([&](const CachedLora& c) { return c.path == path; });
  lora_files.push_front({path, size, mtime, file});
  while (lora_files.size() > 8) lora_files.pop_back();
  return file;
}

std::shared_ptr<const lora::AdapterSet> Generator::Impl::adapters_for(const Request& r) const {
  lora::parse_mode(r.lora_mode);  // ConfigError for an unknown mode
  if (r.loras.empty()) return nullptr;
  std::vector<lora::LoraChoice> choices;
  for (const Lora& l : r.loras) {
    if (!std::isfinite(l.scale) || std::abs(l.scale) > 100)
      throw ConfigError("LoRA scale must be a number between -100 and 100 (got " +
                        std::to_string(l.scale) + " for " + l.path + ")");
    choices.push_back({lora_file(l.path), l.scale});
  }
  return std::make_shared<const lora::AdapterSet>(lora::resolve(choices, pipe->lora_targets()));
}

Generator::Generator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Generator::Generator(Generator&&) noexcept = default;
Generator& Generator::operator=(Generator&&) noexcept = default;
Generator::~Generator() = default;

Generator Generator::open(const ModelOptions& options) {
  memory::install_counting_allocator();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->model = resolve(options);
  const auto t0 = Clock::now();
  pipeline::PipelineOptions p;
  p.dtype = impl->model.dtype;
  p.variant = impl->model.variant;
  p.device = impl->model.device;
  impl->pipe = pipeline::I2VGenXLPipeline::load(options.model, p);
  impl->pipe->set_keep_packed_weights(options.keep_packed_weights);
  impl->load_seconds = since(t0);
  spdlog::info("model {} loaded in {:.1f} s ({}, {}, {} threads)",
               impl->pipe->model_dir().description(), impl->load_seconds,
               api::precision_name(p.dtype), p.device.str(), at::get_num_threads());
  return Generator(std::move(impl));
}

nlohmann::json Generator::Impl::describe() const {
  const memory::ModelFacts& f = model.facts;
  return {{"model", pipe->model_dir().description()},
          {"model_path", options.model},
          {"precision", api::precision_name(model.dtype)},
          {"device", model.device.str()},
          {"threads", at::get_num_threads()},
          {"weights_bytes", f.text_bytes + f.image_bytes + f.vae_bytes + f.unet_bytes},
          {"weights_8bit", f.weights_8bit},
          {"packed_weight_bytes", packed_bytes.load()},
          {"load_seconds", load_seconds}};
}

std::string Generator::describe_json() const {
  return impl_->describe().dump();
}

void Generator::validate(const Request& request) const {
  check_limits(request, Limits{});
  pipeline::GenerationRequest r = to_pipeline_request(request);
  r.plan.vae_tile = request.overrides.vae_tile;
  r.plan.vae_tile_overlap = request.overrides.vae_tile_overlap;
  impl_->pipe->validate(r);
  impl_->adapters_for(request);
}

Estimate Generator::estimate(const Request& request) const {
  const auto loras = impl_->adapters_for(request);
  const ResolvedModel m =
      with_loras(impl_->model, loras.get(), request.lora_mode, impl_->pipe->lora_targets());
  const api::PlanDecision d = decide(request, m, impl_->options, false, impl_->state());
  return api::to_estimate(d, resident_weights(m.facts, d.choice.plan), m.facts.weights_8bit);
}

Estimate estimate(const ModelOptions& options, const Request& request) {
  const ResolvedModel m = resolve(options);
  GeneratorState fresh;  // a Generator just opened
  fresh.keeps_packed = options.keep_packed_weights;
  const api::PlanDecision d = decide(request, m, options, false, fresh);
  return api::to_estimate(d, resident_weights(m.facts, d.choice.plan), m.facts.weights_8bit);
}

void Generator::cancel() {
  impl_->cancel = true;
}

Result Generator::generate(const Request& request, const Callbacks& callbacks) {
  Impl& g = *impl_;
  const auto t_start = Clock::now();
  g.cancel = false;
  const int64_t seed = resolve_seed(request.seed);

  // LoRA files read and matched first: a file that does not fit fails before anything runs, and
  // a merged one counts in the plan's memory.
  const std::shared_ptr<const lora::AdapterSet> loras = g.adapters_for(request);
  const ResolvedModel model =
      with_loras(g.model, loras.get(), request.lora_mode, g.pipe->lora_targets());
  // The plan, before anything runs: nothing fitting is an error that names what would fit.
  const api::PlanDecision decision =
      decide(request, model, g.options, callbacks.on_frames && !callbacks.keep_frames, g.state());
  if (!decision.choice.fits) {
    throw OutOfMemoryError("not enough memory for these settings: " + decision.choice.message);
  }
  const memory::ExecPlan& plan = decision.choice.plan;
  // (Kept packed copies this run will not use, which the plan counted as free, go at its first
  // lease or with the UNet's LoRA: ModelResidency.)
  // However this run ends (an error included), what it leaves kept is what the next one plans
  // with.
  struct RecordPackedBytes {
    Generator::Impl& g;
    ~RecordPackedBytes() { g.packed_bytes = g.pipe->packed_weight_bytes(); }
  } record_packed_bytes{g};
  spdlog::info("[Memory] plan '{}' predicted peak {} ({} {})", plan.name,
               memory::format_bytes(decision.choice.estimate.peak), decision.budget_source,
               memory::format_bytes(decision.budget_bytes));
  if (!plan.exact()) {
    spdlog::warn(
        "[Memory] tiled VAE ({} px tiles): approximate, the frames differ from an "
        "untiled decode",
        plan.vae_tile);
  }
  const pipeline::FrameWindows windows = frame_windows(request);
  if (windows.approximate(request.frames)) {
    spdlog::info(
        "{} frames in windows of {} (stride {}, {} fusion{}): approximate, each window's "
        "temporal layers see its frames only",
        request.frames, windows.length, windows.stride, pipeline::window_fuse_name(windows.fuse),
        windows.shuffle_noise ? ", shuffled noise" : "");
  }
  const bool weights_8bit = !g.model.facts.weights_8bit.empty();
  if (weights_8bit) {
    spdlog::info(
        "[Memory] 8-bit weights ({}): approximate, the video differs from the "
        "original weights'",
        nlohmann::json(g.model.facts.weights_8bit).dump());
  }

  pipeline::GenerationRequest r = to_pipeline_request(request);
  r.seed = seed;
  r.plan = plan;
  r.fallback = decision.choice.fallback;
  g.pipe->validate(r);  // the model's checks, every rung of the ladder included
  r.loras = loras;
  r.lora_mode = lora::parse_mode(request.lora_mode);
  if (r.loras) {
    for (const auto& l : r.loras->loras)
      spdlog::info("LoRA {} (sha256 {}, {}) x {}", l.file, l.sha256.substr(0, 12), l.layout,
                   l.multiplier);
  }
  if (!request.noise_file.empty()) {
    auto noise = io::SafetensorsFile::open(request.noise_file);
    for (const char* name : {"initial_noise", "vae_posterior_noise"}) {
      if (!noise->contains(name)) {
        throw FormatError(request.noise_file + " has no tensor '" + name + "'");
      }
    }
    r.initial_noise = noise->tensor("initial_noise", at::kFloat);
    r.vae_posterior_noise = noise->tensor("vae_posterior_noise", at::kFloat);
  }

  // Counted CPU bytes exclude the mapped weights: the allocator gets what they leave.
  const int64_t enforced =
      g.options.enforce_budget
          ? std::max<int64_t>(int64_t{64} << 20, g.options.memory_budget_bytes -
                                                     memory::runtime_baseline_bytes() -
                                                     resident_weights(model.facts, plan))
          : 0;
  ReleaseCachedBlocksAtExit release_blocks;
  ScopedCpuBudget budget(enforced);
  memory::MemoryLog log(request.memory_log_file, g.model.device.is_cuda());

  pipeline::GenerationHooks hooks;
  hooks.memory_log = &log;
  hooks.cancelled = [&] {
    return g.cancel.load() || (callbacks.cancelled && callbacks.cancelled());
  };
  const int every =
      callbacks.preview_every > 0 ? callbacks.preview_every : std::max(1, request.steps / 25);
  double step_seconds = 0;
  hooks.on_step = [&](const pipeline::StepProgress& s) {
    step_seconds += s.seconds;
    if (callbacks.on_step) {
      Progress p;
      p.step = s.step;
      p.total = s.total;
      p.seconds = s.seconds;
      p.seconds_per_step = step_seconds / s.step;
      p.eta_seconds = p.seconds_per_step * (s.total - s.step);
      const memory::MemorySnapshot m = memory::snapshot(g.model.device.is_cuda());
      p.memory_bytes = m.cuda ? m.allocated : m.rss;
      callbacks.on_step(p);
    }
    if (callbacks.on_preview && (s.step % every == 0 || s.step == s.total)) {
      const at::Tensor& src = s.predicted_original.defined() ? s.predicted_original : s.latents;
      callbacks.on_preview(s.step, api::to_image(pipeline::latent_preview_rgb(src)));
    }
  };
  hooks.keep_frames = callbacks.keep_frames;
  if (callbacks.on_frames) {
    hooks.on_frames = [&](int64_t first, const at::Tensor& frames) {
      callbacks.on_frames(static_cast<int>(first), api::to_video(frames));
    };
  }
  std::vector<std::pair<std::string, at::Tensor>> dumped;
  if (!request.dump_file.empty()) {
    hooks.dump = [&dumped](const std::string& name, const at::Tensor& t) {
      dumped.emplace_back(name, t.detach().to(at::kCPU).contiguous().clone());
    };
  }

  pipeline::GenerationResult out;
  try {
    out = g.pipe->generate(r, hooks);
  } catch (const Error&) {
    throw;  // already a sentence for the user (CancelledError included)
  } catch (const std::exception& e) {
    if (memory::is_out_of_memory(e)) throw OutOfMemoryError(error_message(e));
    throw Error(error_message(e));
  }
  g.packed_bytes = g.pipe->packed_weight_bytes();
  if (const int64_t kept = g.packed_bytes.load(); kept > 0)
    spdlog::info("[Memory] packed weights (UNet, VAE) kept for the next generation: {}",
                 memory::format_bytes(kept));
  if (!request.dump_file.empty()) io::save_safetensors(request.dump_file, dumped);

  Result result;
  if (out.frames.defined()) result.video = api::to_video(out.frames);
  result.seed = seed;
  result.fps = request.fps;
  result.plan = plan.name;
  result.final_plan = out.final_plan.name;
  out.exact = out.exact && !weights_8bit;  // the metadata and the result say the same
  result.exact = out.exact;
  result.peak_memory_bytes = static_cast<int64_t>(peak_rss_bytes());
  api::RunRecord record;
  record.request = &request;
  record.seed = seed;
  record.model = g.describe();
  record.decision = &decision;
  record.result = &out;
  record.enforced = g.options.enforce_budget;
  record.seconds = since(t_start);
  record.memory_log = request.memory_log_file;
  record.loras = r.loras.get();
  record.windows = r.windows;
  result.metadata_json = api::metadata_json(record).dump(2);
  return result;
}

}  // namespace i2v
