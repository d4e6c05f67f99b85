#include "i2v/server/http_api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "i2v/api/plan_policy.h"
#include "i2v/core/runtime.h"
#include "i2v/server/api_error.h"
#include "i2v/server/auth.h"
#include "i2v/server/job_params.h"
#include "i2v/server/memory_report.h"
#include "i2v/server/output_files.h"
#include "i2v/server/static_assets.h"
#include "i2v/server/worker_info.h"

namespace i2v::server {
namespace fs = std::filesystem;

namespace {

void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, {{"error", message}});
}

// Runs a handler; ApiError becomes its status, anything else a 500 naming the problem (the
// server stays up).
template <class F>
httplib::Server::Handler guarded(F f) {
  return [f](const httplib::Request& req, httplib::Response& res) {
    try {
      f(req, res);
    } catch (const ApiError& e) {
      send_error(res, e.status(), e.what());
    } catch (const std::bad_alloc&) {
      send_error(res, 503, "out of memory while handling the request");
    } catch (const std::exception& e) {
      spdlog::error("{} {}: {}", req.method, req.path, e.what());
      send_error(res, 500, std::string("internal error: ") + e.what());
    }
  };
}

int64_t job_id(const httplib::Request& req) {
  try {
    size_t used = 0;
    const std::string s = req.matches[1];
    int64_t id = std::stoll(s, &used);
    if (used != s.size() || id <= 0) throw std::invalid_argument("id");
    return id;
  } catch (const std::exception&) {
    throw ApiError(404, "no such job");
  }
}

Job require_job(ApiContext& ctx, int64_t id) {
  auto job = ctx.store.get(id);
  if (!job) throw ApiError(404, "no job " + std::to_string(id));
  return *job;
}

nlohmann::json job_view(ApiContext& ctx, const Job& job) {
  nlohmann::json j = to_json(job);
  if (job.status == JobStatus::Running) {
    if (auto p = ctx.runner ? ctx.runner->progress() : std::nullopt; p && p->job == job.id) {
      j["step"] = p->step;
      j["seconds_per_step"] = p->seconds_per_step;
      j["eta_seconds"] = p->eta_seconds;
    }
  }
  return j;
}

nlohmann::json presets() {
  return nlohmann::json::array({{{"name", "quick"},
                                 {"label", "Quick"},
                                 {"resolution", "256p"},
                                 {"frames", 8},
                                 {"steps", 30}},
                                {{"name", "standard"},
                                 {"label", "Standard"},
                                 {"resolution", "512p"},
                                 {"frames", 16},
                                 {"steps", 50}},
                                {{"name", "high"},
                                 {"label", "High quality"},
                                 {"resolution", "768p"},
                                 {"frames", 24},
                                 {"steps", 80}}});
}

void remove_outputs(ApiContext& ctx, const Job& job) {
  for (const char* key : {"video", "metadata", "thumbnail"}) {
    if (!job.result.contains(key) || !job.result[key].is_string()) continue;
    if (auto f = servable_output(ctx.options.outputs_dir, job.result[key].get<std::string>())) {
      std::error_code ec;
      fs::remove(*f, ec);
    }
  }
}

// A job's LoRAs must be files of the LoRA folder that fit the model: refused now (400), not
// after it waited in the queue.
void check_loras(ApiContext& ctx, const JobParams& p) {
  if (p.loras.empty()) return;
  if (ctx.options.lora_dir.empty())
    throw ApiError(400, "this server offers no LoRAs (start it with --lora-dir FOLDER)");
  const nlohmann::json offered = list_loras(ctx.options.lora_dir);
  for (const JobLora& l : p.loras) {
    const bool found = std::any_of(offered.begin(), offered.end(),
                                   [&](const nlohmann::json& o) { return o["name"] == l.name; });
    if (!found) throw ApiError(400, "no LoRA named '" + l.name + "' in the server's LoRA folder");
  }
  Request r = to_request(p, ctx.options.lora_dir);
  r.image = Image{1, 1, {0, 0, 0}};  // a stand-in: the upload was checked on its own
  try {
    ctx.generator.validate(r);
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
}

// A job for the shared queue: what it needs (model, memory). Refused now (400) when workers are
// there and none could ever claim it; accepted when none is there yet (they may come).
JobNeeds needs_of_shared_job(ApiContext& ctx, const JobParams& p) {
  Request r = to_request(p, ctx.options.lora_dir);
  r.image = Image{1, 1, {0, 0, 0}};
  const JobNeeds needs = job_needs(ctx.generator, r, ctx.options.model_name);
  const auto workers = ctx.store.workers(60);
  if (workers.empty()) return needs;
  int64_t largest = 0;
  for (const WorkerRecord& w : workers) {
    if (!needs.model.empty() && w.info.model != needs.model) continue;
    if (w.info.memory_budget_bytes == 0 || w.info.memory_budget_bytes >= needs.memory_bytes)
      return needs;
    largest = std::max(largest, w.info.memory_budget_bytes);
  }
  char msg[300];
  std::snprintf(msg, sizeof msg,
                "no worker can run this job: it needs model '%s' and %.2f GiB (its cheapest "
                "plan); the largest budget of a worker with that model is %.2f GiB",
                needs.model.c_str(), needs.memory_bytes / 1073741824.0, largest / 1073741824.0);
  throw ApiError(400, msg);
}

nlohmann::json workers_json(ApiContext& ctx) {
  nlohmann::json out = nlohmann::json::array();
  for (const WorkerRecord& w : ctx.store.workers(60)) {
    out.push_back({{"id", w.info.id},
                   {"host", w.info.host},
                   {"model", w.info.model},
                   {"device", w.info.device},
                   {"memory_budget_bytes", w.info.memory_budget_bytes},
                   {"last_seen", w.last_seen},
                   {"job", w.job == 0 ? nlohmann::json(nullptr) : nlohmann::json(w.job)}});
  }
  return out;
}

void post_job(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Submission s = parse_submission(req, ctx.options.limits);
  check_loras(ctx, s.params);
  if (ctx.store.count(JobStatus::Queued) >= ctx.options.max_queued) {
    throw ApiError(429, "the queue is full (" + std::to_string(ctx.options.max_queued) +
                            " jobs waiting); try again later");
  }
  JobNeeds needs;
  if (ctx.store.shared()) needs = needs_of_shared_job(ctx, s.params);
  Job job = ctx.store.create(s.params, s.image_bytes, s.image_name, s.image_format, needs);
  spdlog::info("job {}: queued ({} {}x{} image, {}x{}, {} frames, {} steps)", job.id,
               s.image_format, s.image_width, s.image_height, job.params.width, job.params.height,
               job.params.frames, job.params.steps);
  ctx.events.publish(job.id, "queued",
                     {{"job", job.id}, {"position", ctx.store.count(JobStatus::Queued)}});
  if (ctx.runner) ctx.runner->notify();
  res.set_header("Location", "/api/jobs/" + std::to_string(job.id));
  send_json(res, 201, job_view(ctx, job));
}

void list_jobs(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  int limit = 100;
  if (req.has_param("limit")) {
    try {
      limit = std::stoi(req.get_param_value("limit"));
    } catch (const std::exception&) {
      throw ApiError(400, "limit must be a number between 1 and 1000");
    }
    if (limit < 1 || limit > 1000) throw ApiError(400, "limit must be between 1 and 1000");
  }
  std::optional<JobStatus> status;
  if (req.has_param("status")) {
    status = parse_job_status(req.get_param_value("status"));
    if (!status) {
      throw ApiError(400, "status must be queued, running, finished, failed or cancelled");
    }
  }
  nlohmann::json jobs = nlohmann::json::array();
  for (const Job& j : ctx.store.list(limit, status)) jobs.push_back(job_view(ctx, j));
  send_json(res, 200, {{"jobs", jobs}, {"queue_length", ctx.store.count(JobStatus::Queued)}});
}

void delete_job(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const int64_t id = job_id(req);
  Job job = require_job(ctx, id);
  if (job.status == JobStatus::Queued && ctx.store.mark_cancelled(id)) {
    ctx.events.publish(id, "cancelled", {{"job", id}});
    spdlog::info("job {}: cancelled while queued", id);
    send_json(res, 200, job_view(ctx, require_job(ctx, id)));
    return;
  }
  if (job.status == JobStatus::Running || job.status == JobStatus::Queued) {
    if (ctx.runner && ctx.runner->cancel_running(id)) {
      nlohmann::json j = job_view(ctx, job);
      j["cancelling"] = true;
      send_json(res, 202, j);
      return;
    }
    if (ctx.store.shared() && ctx.store.mark_cancelled(id)) {
      // Its worker (elsewhere) finds the lease cancelled and stops at its next renewal.
      ctx.events.publish(id, "cancelled", {{"job", id}});
      spdlog::info("job {}: cancelled (its worker stops within a third of the lease)", id);
      nlohmann::json j = job_view(ctx, require_job(ctx, id));
      j["cancelling"] = true;
      send_json(res, 202, j);
      return;
    }
    job = require_job(ctx, id);  // it finished or was picked up meanwhile
    if (!is_terminal(job.status)) throw ApiError(409, "the job is changing state; try again");
  }
  // A finished, failed or cancelled job: remove it from the history with its files.
  remove_outputs(ctx, job);
  ctx.store.remove(id);
  ctx.events.forget(id);
  spdlog::info("job {}: deleted", id);
  send_json(res, 200, {{"id", id}, {"deleted", true}});
}

// GET /api/jobs/{id}/events: the job's state, then its events as they happen, ending after
// the final one (finished, failed or cancelled).
void job_events(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const int64_t id = job_id(req);
  require_job(ctx, id);
  struct Cursor {
    uint64_t seq = 0;
    bool sent_state = false, done = false;
  };
  auto cursor = std::make_shared<Cursor>();
  if (req.has_header("Last-Event-ID")) {
    try {
      // A reconnecting EventSource: skip what it saw (the state is sent again, it is cheap).
      cursor->seq = std::stoull(req.get_header_value("Last-Event-ID"));
    } catch (const std::exception&) {
    }
  }
  res.set_header("Cache-Control", "no-store");
  res.set_header("X-Accel-Buffering", "no");
  ApiContext* c = &ctx;
  res.set_chunked_content_provider(
      "text/event-stream", [c, id, cursor](size_t, httplib::DataSink& sink) {
        if (cursor->done) {
          sink.done();
          return true;
        }
        std::string out;
        if (!cursor->sent_state) {
          cursor->sent_state = true;
          auto job = c->store.get(id);
          if (!job) {
            out = "event: failed\ndata: {\"error\":\"the job was deleted\"}\n\n";
            cursor->done = true;
            return sink.write(out.data(), out.size());
          }
          out += "event: state\ndata: " + job_view(*c, *job).dump() + "\n\n";
          if (is_terminal(job->status)) {
            // Finished before (maybe in an earlier run of the server): the state says it all.
            nlohmann::json d = {{"job", id},
                                {"urls", to_json(*job)["urls"]},
                                {"error", job->error},
                                {"result", job->result}};
            out += "event: " + to_string(job->status) + "\ndata: " + d.dump() + "\n\n";
            cursor->done = true;
          }
          if (!sink.write(out.data(), out.size())) return false;
          if (cursor->done) return true;
          out.clear();
        }
        auto events = c->events.wait(id, cursor->seq, std::chrono::seconds(10));
        if (events.empty()) {
          if (c->events.closed()) return false;
          out = ": keep-alive\n\n";
        }
        for (const auto& e : events) {
          out += format_sse(e);
          cursor->seq = e.seq;
          if (e.type == "finished" || e.type == "failed" || e.type == "cancelled") {
            cursor->done = true;
            break;
          }
        }
        return sink.write(out.data(), out.size());
      });
}

void system_info(ApiContext& ctx, httplib::Response& res) {
  nlohmann::json running = nullptr;
  if (auto p = ctx.runner ? ctx.runner->progress() : std::nullopt) {
    running = {{"job", p->job},
               {"step", p->step},
               {"total", p->total},
               {"seconds_per_step", p->seconds_per_step},
               {"eta_seconds", p->eta_seconds}};
  }
  const nlohmann::json gen = ctx.generator.describe();
  send_json(
      res, 200,
      {{"version", version_report()},
       {"device", gen.value("device", "cpu")},
       {"threads", gen.value("threads", 0)},
       {"model", gen},
       {"memory", to_json(memory_snapshot())},
       {"plan",
        {{"name", "per job"},
         {"precision", gen.value("precision", "fp32")},
         {"budget_bytes", api::detected_budget_bytes(false)},
         {"note",
          "each job runs the fastest plan whose predicted peak fits the budget (available "
          "memory plus what this process holds, 10 % kept spare); on out-of-memory the "
          "failing step is redone with the next cheaper plan"}}},
       {"queue_length", ctx.store.count(JobStatus::Queued)},
       {"running", running},
       {"jobs_store", ctx.store.describe()},
       {"workers", workers_json(ctx)},
       {"limits", to_json(ctx.options.limits.params)},
       {"max_upload_bytes", ctx.options.limits.max_image_bytes},
       {"presets", presets()},
       {"loras", list_loras(ctx.options.lora_dir)},
       {"auth_required", !ctx.options.token.empty()},
       {"uptime_seconds",
        std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count()}});
}

void estimate(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  nlohmann::json j = nlohmann::json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) throw ApiError(400, "send a JSON object of parameters");
  j.erase("image");
  j.erase("image_name");
  if (!j.contains("prompt") || j["prompt"] == "") j["prompt"] = "estimate";
  if (!j.contains("seed")) j["seed"] = 0;
  JobParams p = parse_job_params(j, ctx.options.limits.params);
  const Estimate e = ctx.generator.estimate(to_request(p, ctx.options.lora_dir));
  // The library's estimate, with plans named by their names.
  nlohmann::json ej = nlohmann::json::parse(e.json);
  ej["plan"] = e.plan;
  ej["available_bytes"] = e.budget_bytes;
  for (auto& c : ej["candidates"]) c["plan"] = c["plan"]["name"];
  nlohmann::json pj = to_json(p);
  pj.erase("prompt");
  pj.erase("negative_prompt");
  pj.erase("seed");
  send_json(res, 200, {{"params", pj}, {"estimate", ej}});
}

void serve_output(ApiContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string name = req.matches[1];
  auto file = servable_output(ctx.options.outputs_dir, name);
  if (!file) throw ApiError(404, "no such output");
  std::ifstream in(*file, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in && !in.eof()) throw ApiError(500, "cannot read the output");
  res.set_header("Cache-Control", "private, max-age=3600");
  if (req.has_param("download")) {
    res.set_header("Content-Disposition", "attachment; filename=\"" + name + "\"");
  }
  res.set_content(ss.str(), output_content_type(*file).c_str());
}

}  // namespace

void register_routes(httplib::Server& http, ApiContext& ctx) {
  ApiContext* c = &ctx;
  http.Post("/api/jobs", guarded([c](const auto& req, auto& res) { post_job(*c, req, res); }));
  http.Get("/api/jobs", guarded([c](const auto& req, auto& res) { list_jobs(*c, req, res); }));
  http.Get(R"(/api/jobs/(\d+))", guarded([c](const auto& req, auto& res) {
             send_json(res, 200, job_view(*c, require_job(*c, job_id(req))));
           }));
  http.Delete(R"(/api/jobs/(\d+))",
              guarded([c](const auto& req, auto& res) { delete_job(*c, req, res); }));
  http.Get(R"(/api/jobs/(\d+)/events)",
           guarded([c](const auto& req, auto& res) { job_events(*c, req, res); }));
  http.Get(R"(/api/jobs/(\d+)/image)", guarded([c](const auto& req, auto& res) {
             Job job = require_job(*c, job_id(req));
             static const std::map<std::string, std::string> types = {{"png", "image/png"},
                                                                      {"jpeg", "image/jpeg"},
                                                                      {"webp", "image/webp"},
                                                                      {"bmp", "image/bmp"}};
             auto it = types.find(job.image_format);
             res.set_content(c->store.image(job.id),
                             it == types.end() ? "application/octet-stream" : it->second.c_str());
           }));
  http.Get("/api/system", guarded([c](const auto&, auto& res) { system_info(*c, res); }));
  http.Post("/api/estimate", guarded([c](const auto& req, auto& res) { estimate(*c, req, res); }));
  http.Get("/api/openapi.json",
           guarded([](const auto&, auto& res) { send_json(res, 200, openapi_document()); }));
  http.Get(R"(/outputs/([^/]+))",
           guarded([c](const auto& req, auto& res) { serve_output(*c, req, res); }));
  http.Get(R"(/api/.*)", guarded([](const auto& req, auto&) {
             throw ApiError(404, "no API route " + req.path);
           }));
  // The page: embedded files only.
  http.Get(R"(/[A-Za-z0-9_.-]*)", [](const httplib::Request& req, httplib::Response& res) {
    const StaticAsset* a = find_static_asset(req.path);
    if (!a) {
      res.status = 404;
      res.set_content("not found", "text/plain");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_content(a->data, a->size, a->content_type);
  });
}

}  // namespace i2v::server
