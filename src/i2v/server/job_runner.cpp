#include "i2v/server/job_runner.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>

#include "i2v/api/image_conversion.h"
#include "i2v/server/base64.h"
#include "i2v/server/event_relay.h"
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

JobRunner::JobRunner(JobStore& store, EventSink& events, VideoGenerator& generator,
                     RunnerOptions options)
    : store_(store), events_(events), generator_(generator), options_(std::move(options)) {
  if (options_.worker.id.empty()) options_.worker.id = new_worker_id();
  if (options_.worker.host.empty()) options_.worker.host = host_name();
}

JobRunner::~JobRunner() {
  stop();
}

void JobRunner::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { loop(); });
  lease_thread_ = std::thread([this] { lease_loop(); });
}

void JobRunner::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (lease_thread_.joinable()) lease_thread_.join();
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

bool JobRunner::done() const {
  return done_;
}

// Renews the running job's lease (a third of its length before it runs out) and the worker's
// heartbeat; finds a job cancelled elsewhere (the front) or lost (this process stalled longer
// than the lease, and the job went back to the queue).
void JobRunner::lease_loop() {
  const auto period = std::chrono::duration<double>(options_.lease_seconds / 3);
  for (;;) {
    const int64_t id = current_;
    try {
      if (id != 0) {
        switch (store_.renew(id, options_.worker.id, options_.lease_seconds)) {
          case Lease::Held:
            break;
          case Lease::Cancelled:
            cancel_id_ = id;
            break;
          case Lease::Lost:
            lost_id_ = id;
            break;
        }
      }
      store_.heartbeat(options_.worker, id);
    } catch (const std::exception& e) {
      spdlog::warn("worker {}: cannot renew the lease: {}", options_.worker.id, e.what());
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, period, [&] { return stopping_ || current_ != id; }) && stopping_) break;
  }
  try {
    store_.remove_worker(options_.worker.id);
  } catch (const std::exception&) {
  }
}

void JobRunner::loop() {
  int jobs_run = 0;
  for (;;) {
    if (store_.shared()) {
      try {
        store_.wait_for_news(std::chrono::milliseconds(500));  // NOTIFY of a new job, or a poll
      } catch (const std::exception& e) {  // the database is away: retry, do not die
        spdlog::error("job runner: {}", e.what());
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
    } else {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_ || wake_; });
      if (stopping_) return;
      wake_ = false;
    }
    try {
      requeue_lost_jobs(store_, events_);
      std::optional<Job> job;
      for (;;) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          if (stopping_) return;
        }
        const auto t_claim = std::chrono::steady_clock::now();
        if (!(job = store_.claim(options_.worker, options_.lease_seconds))) break;
        const double claim_seconds = since(t_claim);
        {
          std::lock_guard<std::mutex> lock(mu_);
          cancel_id_ = 0;  // before progress_ names the job, so no cancel of it is lost
          lost_id_ = 0;
          current_ = job->id;
          progress_ = RunningProgress{job->id, 0, job->params.steps, 0, 0};
        }
        cv_.notify_all();  // the lease thread renews the new job at once
        run_job(*job, claim_seconds);
        std::lock_guard<std::mutex> lock(mu_);
        progress_.reset();
        current_ = 0;
        if (options_.max_jobs > 0 && ++jobs_run >= options_.max_jobs) {
          done_ = true;
          return;
        }
        if (stopping_) return;
      }
    } catch (const std::exception& e) {
      spdlog::error("job runner: cannot read the queue: {}", e.what());
    }
  }
}

void JobRunner::run_job(const Job& job, double claim_seconds) {
  const JobParams& p = job.params;
  const int64_t id = job.id;
  const std::string& me = options_.worker.id;
  // Time spent talking to the queue for this job (claim, image, progress, events): the cost
  // of sharing it, recorded in the result as queue_seconds.
  double queue_seconds = claim_seconds;
  int events_published = 0;
  auto publish = [&](const std::string& type, nlohmann::json data) {
    const auto t = std::chrono::steady_clock::now();
    events_.publish(id, type, std::move(data));
    queue_seconds += since(t);
    ++events_published;
  };
  spdlog::info("job {}: started ({}x{}, {} frames, {} steps, seed {}, attempt {}, worker {})", id,
               p.width, p.height, p.frames, p.steps, p.seed, job.attempts, me);
  publish("started", {{"job", id},
                      {"total_steps", p.steps},
                      {"attempt", job.attempts},
                      {"worker", me},
                      {"memory", to_json(memory_snapshot())}});
  const auto t_start = std::chrono::steady_clock::now();
  nlohmann::json result = nlohmann::json::object();
  try {
    Request r = to_request(p, options_.lora_dir);
    const auto t_image = std::chrono::steady_clock::now();
    const std::string bytes = store_.image(id);
    queue_seconds += since(t_image);
    r.image = Image::from_bytes(bytes.data(), bytes.size(),
                                job.image_name.empty() ? "the uploaded image" : job.image_name);

    Callbacks callbacks;
    callbacks.preview_every = options_.preview_every;
    callbacks.cancelled = [this, id] {
      std::lock_guard<std::mutex> lock(mu_);
      return stopping_ || cancel_id_ == id || lost_id_ == id;
    };
    callbacks.on_step = [&](const Progress& s) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        progress_ = RunningProgress{id, s.step, s.total, s.seconds_per_step, s.eta_seconds};
      }
      const auto t_progress = std::chrono::steady_clock::now();
      try {
        store_.set_progress(id, me, s.step);
      } catch (const IoError& e) {  // the database is away for a moment: the job goes on
        spdlog::warn("job {}: cannot record step {}: {}", id, s.step, e.what());
      }
      queue_seconds += since(t_progress);
      publish("step", {{"job", id},
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
        publish("preview", {{"job", id},
                            {"step", step},
                            {"image", "data:image/jpeg;base64," + base64_encode(jpg)}});
      } catch (const std::exception& e) {
        spdlog::warn("job {}: preview failed: {}", id, e.what());
      }
    };

    // Streaming output: each decoded frame goes into the video file and, as a JPEG, to the page
    // (a "frame" event), so the user sees the video grow; the file appears when complete.
    fs::create_directories(options_.outputs_dir);
    const OutputNames names = job_output_names(options_.outputs_dir, id, job.attempts);
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
          publish("frame", {{"job", id},
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
    if (cancel_id_ == id || lost_id_ == id) throw CancelledError();

    nlohmann::json meta = nlohmann::json::parse(out.metadata_json);
    meta["job"] = id;
    meta["image"] = job.image_name;
    meta["params"]["resolution"] = p.resolution;
    meta["attempts"] = job.attempts;
    meta["worker"] = me;
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
              {"worker", me},
              {"queue_seconds", queue_seconds},
              {"claim_seconds", claim_seconds},
              {"events", events_published + 1},  // with the "finished" below
              {"peak_rss_bytes", mem.peak_rss_bytes}};
    // Recorded even through a short database outage: retried for one lease (beyond it the
    // job is someone else's anyway). The files stay when it cannot be recorded at all.
    bool recorded = false;
    for (const auto t_record = std::chrono::steady_clock::now();;) {
      try {
        recorded = store_.mark_finished(id, me, result);
        break;
      } catch (const IoError& e) {
        if (since(t_record) > options_.lease_seconds) {
          spdlog::error("job {}: finished ({}), but the job store is unreachable: {}", id,
                        names.video.string(), e.what());
          throw;
        }
        spdlog::warn("job {}: finished; cannot record it yet ({}), retrying", id, e.what());
        std::this_thread::sleep_for(std::chrono::seconds(1));
      }
    }
    if (!recorded) {
      // The lease ran out and the job is (or will be) someone else's: theirs is the result.
      spdlog::warn("job {}: finished, but its lease was lost; discarding this copy", id);
      remove_output_files(names);
      return;
    }
    spdlog::info("job {}: finished in {:.1f} s -> {}", id, since(t_start),
                 names.video.filename().string());
    Job done = job;
    done.result = result;
    publish("finished", {{"job", id},
                         {"seconds", since(t_start)},
                         {"urls", to_json(done)["urls"]},
                         {"result", result}});
  } catch (const CancelledError&) {
    bool by_user, lost;
    {
      std::lock_guard<std::mutex> lock(mu_);
      by_user = cancel_id_ == id && !stopping_;
      lost = lost_id_ == id;
    }
    if (lost) {
      spdlog::warn("job {}: its lease was lost; stopped (another worker runs it)", id);
    } else if (by_user) {
      // Cancelled here (the store changes now) or at the front (it already said so).
      if (store_.mark_cancelled(id)) publish("cancelled", {{"job", id}});
      spdlog::info("job {}: cancelled", id);
    } else {
      store_.requeue(id, me);
      spdlog::info("job {}: interrupted by shutdown, back in the queue", id);
      publish("interrupted",
              {{"job", id},
               {"reason", store_.shared() ? "the worker is stopping" : "the server is stopping"}});
    }
  } catch (const std::exception& e) {
    const std::string reason = error_message(e);
    spdlog::error("job {}: failed: {}", id, reason);
    try {
      if (!store_.mark_failed(id, me, reason, result)) return;  // not ours any more
    } catch (const std::exception& e2) {
      spdlog::error("job {}: cannot record the failure: {}", id, e2.what());
    }
    publish("failed", {{"job", id}, {"error", reason}});
  }
}

}  // namespace i2v::server
