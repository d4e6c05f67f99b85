#include "i2v/server/job_runner.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>

#include "i2v/api/image_conversion.h"
#include "i2v/server/base64.h"
#include "i2v/server/job_params.h"
#include "i2v/server/memory_report.h"
#include "i2v/server/output_files.h"
#include "i2v/server/preview.h"

namespace i2v::server {
namespace fs = std::filesystem;

namespace {
double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
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
    Request r = to_request(p, options_.lora_dir);
    const std::string bytes = store_.image(id);
    r.image = Image::from_bytes(bytes.data(), bytes.size(),
                                job.image_name.empty() ? "the uploaded image" : job.image_name);

    Callbacks callbacks;
    callbacks.preview_every = options_.preview_every;
    callbacks.cancelled = [this, id] {
      std::lock_guard<std::mutex> lock(mu_);
      return stopping_ || cancel_id_ == id;
    };
    callbacks.on_step = [&](const Progress& s) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        progress_ = RunningProgress{id, s.step, s.total, s.seconds_per_step, s.eta_seconds};
      }
      store_.set_progress(id, s.step);
      events_.publish(id, "step",
                      {{"job", id},
                       {"step", s.step},
                       {"total", s.total},
                       {"seconds", s.seconds},
                       {"seconds_per_step", s.seconds_per_step},
                       {"eta_seconds", s.eta_seconds},
                       {"elapsed_seconds", since(t_start)},
                       {"memory", to_json(memory_snapshot())}});
    };
    callbacks.on_preview = [&](int step, const Image& preview) {
      try {
        const std::string jpg = encode_jpeg(api::image_tensor(preview), 75);
        events_.publish(id, "preview",
                        {{"job", id},
                         {"step", step},
                         {"image", "data:image/jpeg;base64," + base64_encode(jpg)}});
      } catch (const std::exception& e) {
        spdlog::warn("job {}: preview failed: {}", id, e.what());
      }
    };

    // Streaming output: each decoded frame goes into the video file and, as a JPEG, to the page
    // (a "frame" event), so the user sees the video grow; the file appears when complete.
    fs::create_directories(options_.outputs_dir);
    const OutputNames names = new_output_names(options_.outputs_dir);
    VideoFileWriter writer(names.video.string(), p.fps);
    std::string thumb;
    double first_frame_seconds = -1;
    callbacks.keep_frames = false;
    callbacks.on_frames = [&](int first, const Video& frames) {
      writer.append(frames);
      if (first == 0) {
        first_frame_seconds = since(t_start);
        thumb = encode_jpeg(shrink_to(api::image_tensor(frames.frame(0)), 256), 85);
      }
      for (int i = 0; i < frames.frames; ++i) {
        try {
          const std::string jpg =
              encode_jpeg(shrink_to(api::image_tensor(frames.frame(i)), 256), 80);
          events_.publish(id, "frame",
                          {{"job", id},
                           {"index", first + i},
                           {"total", p.frames},
                           {"elapsed_seconds", since(t_start)},
                           {"image", "data:image/jpeg;base64," + base64_encode(jpg)}});
        } catch (const std::exception& e) {
          spdlog::warn("job {}: frame event failed: {}", id, e.what());
        }
      }
    };

    // The library plans (the fastest plan that fits, the cheaper ones as its fallback ladder)
    // and refuses settings nothing fits with OutOfMemoryError naming what would.
    Result out = generator_.generate(r, callbacks);
    if (cancel_id_ == id) throw CancelledError();

    nlohmann::json meta = nlohmann::json::parse(out.metadata_json);
    meta["job"] = id;
    meta["image"] = job.image_name;
    meta["params"]["resolution"] = p.resolution;
    meta["attempts"] = job.attempts + 1;
    out.metadata_json = meta.dump(2);
    const auto t_write = std::chrono::steady_clock::now();
    writer.finish(out);
    {
      std::ofstream f(names.thumbnail, std::ios::binary);
      f.write(thumb.data(), static_cast<std::streamsize>(thumb.size()));
      if (!f) throw IoError("cannot write the thumbnail " + names.thumbnail.string());
    }
    nlohmann::json stage_seconds = meta["stage_seconds"];
    stage_seconds["write_video"] = since(t_write);  // the rest after the last frame
    stage_seconds["first_frame"] = first_frame_seconds;
    const MemorySnapshot mem = memory_snapshot();
    result = {{"video", names.video.filename().string()},
              {"metadata", names.metadata.filename().string()},
              {"thumbnail", names.thumbnail.filename().string()},
              {"seconds", since(t_start)},
              {"stage_seconds", stage_seconds},
              {"plan", out.plan},
              {"final_plan", out.final_plan},
              {"exact", out.exact},
              {"loras", meta.value("loras", nlohmann::json::array())},
              {"peak_rss_bytes", mem.peak_rss_bytes}};
    store_.mark_finished(id, result);
    spdlog::info("job {}: finished in {:.1f} s -> {}", id, since(t_start),
                 names.video.filename().string());
    auto done = store_.get(id);
    events_.publish(id, "finished",
                    {{"job", id},
                     {"seconds", since(t_start)},
                     {"urls", done ? to_json(*done)["urls"] : nlohmann::json::object()},
                     {"result", result}});
  } catch (const CancelledError&) {
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
    const std::string reason = error_message(e);
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
