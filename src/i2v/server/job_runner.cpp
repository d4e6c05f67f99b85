#include "i2v/server/job_runner.h"

#include <c10/util/Exception.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>

#include "i2v/core/runtime.h"
#include "i2v/image/decode.h"
#include "i2v/server/base64.h"
#include "i2v/server/output_files.h"
#include "i2v/server/preview.h"
#include "i2v/video/video_writer.h"

namespace i2v::server {
namespace fs = std::filesystem;

namespace {
double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// A failure message a user can act on.
std::string describe_failure(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e)) {
    return "out of memory while generating: try a smaller resolution, fewer frames, or close "
           "other programs";
  }
  if (auto* c = dynamic_cast<const c10::Error*>(&e)) {
    std::string m = c->what_without_backtrace();
    if (m.find("alloc") != std::string::npos && m.find("memory") != std::string::npos) {
      return "out of memory while generating (" + m.substr(0, 300) +
             "): try a smaller resolution or fewer frames";
    }
    return "libtorch error: " + m.substr(0, 500);
  }
  return e.what();
}
}  // namespace

JobRunner::JobRunner(JobStore& store, EventBroadcaster& events, VideoGenerator& generator,
                     RunnerOptions options)
    : store_(store), events_(events), generator_(generator), options_(std::move(options)) {}

JobRunner::~JobRunner() {
  stop();
}

void JobRunner::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
}

void JobRunner::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void JobRunner::notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

bool JobRunner::cancel_running(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!progress_ || progress_->job != id) return false;
  cancel_id_ = id;
  return true;
}

std::optional<RunningProgress> JobRunner::progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  return progress_;
}

void JobRunner::loop() {
  for (;;) {
    std::optional<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_ || wake_; });
      if (stopping_) return;
      wake_ = false;
    }
    try {
      while ((job = store_.next_queued())) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (stopping_) return;
          cancel_id_ = 0;  // before progress_ names the job, so no cancel of it is lost
          progress_ = RunningProgress{job->id, 0, job->params.steps, 0, 0};
        }
        run_job(*job);
        std::lock_guard<std::mutex> lock(mu_);
        progress_.reset();
        if (stopping_) return;
      }
    } catch (const std::exception& e) {
      spdlog::error("job runner: cannot read the queue: {}", e.what());
    }
  }
}

void JobRunner::run_job(const Job& job) {
  const JobParams& p = job.params;
  const int64_t id = job.id;
  if (!store_.mark_running(id, p.steps)) return;  // cancelled while it waited
  spdlog::info("job {}: started ({}x{}, {} frames, {} steps, seed {}, attempt {})", id, p.width,
               p.height, p.frames, p.steps, p.seed, job.attempts + 1);
  events_.publish(id, "started",
                  {{"job", id},
                   {"total_steps", p.steps},
                   {"attempt", job.attempts + 1},
                   {"memory", to_json(memory_snapshot())}});
  const auto t_start = std::chrono::steady_clock::now();
  nlohmann::json result = nlohmann::json::object();
  try {
    pipeline::GenerationRequest r;
    const std::string bytes = store_.image(id);
    r.image = image::decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                                  job.image_name.empty() ? "the uploaded image" : job.image_name);
    r.prompt = p.prompt;
    r.negative_prompt = p.negative_prompt;
    r.width = p.width;
    r.height = p.height;
    r.num_frames = p.frames;
    r.target_fps = p.fps;
    r.num_inference_steps = p.steps;
    r.guidance_scale = p.guidance;
    r.seed = p.seed;
    generator_.validate(r);
    // The fastest plan that fits; the cheaper ones are the fallback ladder on out-of-memory.
    const MemoryEstimate plan = estimate_memory(p, generator_.facts(), job_memory_budget());
    if (!plan.choice.fits) {
      throw ConfigError("not enough memory for these settings: " + plan.choice.message);
    }
    r.plan = plan.choice.plan;
    r.fallback = plan.choice.fallback;

    const int every =
        options_.preview_every > 0 ? options_.preview_every : std::max(1, p.steps / 25);
    double sum_seconds = 0;
    pipeline::GenerationHooks hooks;
    hooks.cancelled = [this, id] {
      std::lock_guard<std::mutex> lock(mu_);
      return stopping_ || cancel_id_ == id;
    };
    hooks.on_step = [&](const pipeline::StepProgress& s) {
      sum_seconds += s.seconds;
      const double per_step = sum_seconds / s.step;
      const double eta = per_step * (s.total - s.step);
      {
        std::lock_guard<std::mutex> lock(mu_);
        progress_ = RunningProgress{id, s.step, s.total, per_step, eta};
      }
      store_.set_progress(id, s.step);
      events_.publish(id, "step",
                      {{"job", id},
                       {"step", s.step},
                       {"total", s.total},
                       {"seconds", s.seconds},
                       {"seconds_per_step", per_step},
                       {"eta_seconds", eta},
                       {"elapsed_seconds", since(t_start)},
                       {"memory", to_json(memory_snapshot())}});
      if (s.step % every == 0 || s.step == s.total) {
        const at::Tensor& src = s.predicted_original.defined() ? s.predicted_original : s.latents;
        if (src.defined()) {
          try {
            const std::string jpg = encode_jpeg(latent_preview_rgb(src.detach()), 75);
            events_.publish(id, "preview",
                            {{"job", id},
                             {"step", s.step},
                             {"image", "data:image/jpeg;base64," + base64_encode(jpg)}});
          } catch (const std::exception& e) {
            spdlog::warn("job {}: preview failed: {}", id, e.what());
          }
        }
      }
    };

    pipeline::GenerationResult out = generator_.generate(r, hooks);
    if (cancel_id_ == id) throw pipeline::CancelledError();

    fs::create_directories(options_.outputs_dir);
    const OutputNames names = new_output_names(options_.outputs_dir);
    const auto t_write = std::chrono::steady_clock::now();
    video::VideoWriteOptions vopts;
    vopts.fps = p.fps;
    video::write_video(out.frames, names.video, vopts);
    out.stage_seconds["write_video"] = since(t_write);
    {
      const std::string thumb = encode_jpeg(shrink_to(out.frames[0].contiguous(), 256), 85);
      std::ofstream f(names.thumbnail, std::ios::binary);
      f.write(thumb.data(), static_cast<std::streamsize>(thumb.size()));
      if (!f) throw IoError("cannot write the thumbnail " + names.thumbnail.string());
    }
    const MemorySnapshot mem = memory_snapshot();
    result = {{"video", names.video.filename().string()},
              {"metadata", names.metadata.filename().string()},
              {"thumbnail", names.thumbnail.filename().string()},
              {"seconds", since(t_start)},
              {"stage_seconds", out.stage_seconds},
              {"peak_rss_bytes", mem.peak_rss_bytes}};
    nlohmann::json meta = {{"job", id},
                           {"output", names.video.filename().string()},
                           {"format", "mp4"},
                           {"image", job.image_name},
                           {"params", to_json(p)},
                           {"generator", generator_.describe()},
                           {"seconds", since(t_start)},
                           {"stage_seconds", out.stage_seconds},
                           {"peak_rss_bytes", mem.peak_rss_bytes},
                           {"memory",
                            {{"plan", r.plan.name},
                             {"final_plan", out.final_plan.name},
                             {"downgrades", out.downgrades},
                             {"predicted_peak_bytes", plan.choice.estimate.peak},
                             {"budget_bytes", plan.budget_bytes}}},
                           {"attempts", job.attempts + 1},
                           {"version", version_report()}};
    {
      std::ofstream f(names.metadata);
      f << meta.dump(2) << "\n";
      if (!f) throw IoError("cannot write the metadata " + names.metadata.string());
    }
    store_.mark_finished(id, result);
    spdlog::info("job {}: finished in {:.1f} s -> {}", id, since(t_start),
                 names.video.filename().string());
    auto done = store_.get(id);
    events_.publish(id, "finished",
                    {{"job", id},
                     {"seconds", since(t_start)},
                     {"urls", done ? to_json(*done)["urls"] : nlohmann::json::object()},
                     {"result", result}});
  } catch (const pipeline::CancelledError&) {
    bool by_user;
    {
      std::lock_guard<std::mutex> lock(mu_);
      by_user = cancel_id_ == id && !stopping_;
    }
    if (by_user) {
      store_.mark_cancelled(id);
      spdlog::info("job {}: cancelled", id);
      events_.publish(id, "cancelled", {{"job", id}});
    } else {
      store_.requeue(id);
      spdlog::info("job {}: interrupted by shutdown, back in the queue", id);
      events_.publish(id, "interrupted", {{"job", id}, {"reason", "the server is stopping"}});
    }
  } catch (const std::exception& e) {
    const std::string reason = describe_failure(e);
    spdlog::error("job {}: failed: {}", id, reason);
    try {
      store_.mark_failed(id, reason, result);
    } catch (const std::exception& e2) {
      spdlog::error("job {}: cannot record the failure: {}", id, e2.what());
    }
    events_.publish(id, "failed", {{"job", id}, {"error", reason}});
  }
}

}  // namespace i2v::server
