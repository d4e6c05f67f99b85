#include "i2v/server/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "i2v/error.h"
#include "i2v/server/auth.h"
#include "i2v/server/event_relay.h"
#include "i2v/server/http_api.h"
#include "i2v/server/worker_info.h"

namespace i2v::server {
namespace fs = std::filesystem;

namespace {

// The host part of a Host header ("127.0.0.1:7860", "[::1]:80", "localhost").
std::string host_name(const std::string& header) {
  if (!header.empty() && header[0] == '[') return header.substr(0, header.find(']') + 1);
  return header.substr(0, header.find(':'));
}

bool needs_token(const std::string& path) {
  return path.rfind("/api/", 0) == 0 || path.rfind("/outputs/", 0) == 0;
}

}  // namespace

Server::Server(ServerOptions options, std::shared_ptr<VideoGenerator> generator)
    : options_(std::move(options)), generator_(std::move(generator)) {
  if (!is_loopback_host(options_.host) && options_.token.empty()) {
    throw ConfigError("serving on " + options_.host +
                      " (beyond this machine) needs --token or --token-file; without one, bind "
                      "to 127.0.0.1");
  }
  std::error_code ec;
  fs::create_directories(options_.outputs_dir, ec);
  if (ec) {
    throw IoError("cannot create the outputs folder " + options_.outputs_dir.string() + ": " +
                  ec.message());
  }
  if (options_.db_path.empty()) options_.db_path = options_.outputs_dir / "i2v-jobs.sqlite";
  if (options_.model_name.empty()) options_.model_name = model_name_of(generator_->describe());
  store_ = open_job_store(options_.jobs, options_.db_path);
  events_ = std::make_unique<EventBroadcaster>();
  EventSink* runner_events = events_.get();
  if (store_->shared()) {
    // Workers elsewhere report into the store; the relay brings their events to this page.
    store_sink_ = std::make_unique<StoreEventSink>(*store_);
    relay_ = std::make_unique<EventRelay>(*store_, *events_);
    runner_events = store_sink_.get();
  } else {
    // Nobody else runs these jobs: one left running was ours when this process died.
    for (int64_t id : store_->requeue_all_running()) {
      spdlog::warn("job {}: was running when the server stopped; queued again", id);
      events_->publish(id, "queued", {{"job", id}, {"recovered", true}});
    }
  }
  if (options_.local_worker) {
    RunnerOptions ro;
    ro.outputs_dir = options_.outputs_dir;
    ro.preview_every = options_.preview_every;
    ro.lora_dir = options_.lora_dir;
    ro.worker = local_worker_info(*generator_, options_.model_name);
    if (!store_->shared()) ro.worker.memory_budget_bytes = 0;  // its planner refuses, clearly
    ro.lease_seconds = options_.lease_seconds;
    runner_ = std::make_unique<JobRunner>(*store_, *runner_events, *generator_, ro);
  }
  spdlog::info("jobs in {}{}", store_->describe(),
               options_.local_worker ? "" : " (no local worker: workers elsewhere run them)");
  context_.reset(new ApiContext{options_, *store_, *events_, runner_.get(), *generator_});
  http_ = std::make_unique<httplib::Server>();
  const int threads = options_.http_threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_->set_payload_max_length(options_.limits.max_image_bytes / 3 * 4 + (1u << 20));
  http_->set_read_timeout(30, 0);
  http_->set_write_timeout(30, 0);

  const std::string token = options_.token;
  http_->set_pre_routing_handler([token](const httplib::Request& req, httplib::Response& res) {
    auto refuse = [&](int status, const std::string& message) {
      res.status = status;
      res.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
      return httplib::Server::HandlerResponse::Handled;
    };
    if (token.empty()) {
      // Without a token only this machine may talk to us: refuse other Host names, so a web
      // page elsewhere cannot reach the server through DNS rebinding.
      if (!is_loopback_host(host_name(req.get_header_value("Host")))) {
        return refuse(403, "this server only answers requests addressed to localhost");
      }
    } else if (needs_token(req.path) &&
               !token_matches(presented_token(req.get_header_value("Authorization"),
                                              req.get_param_value("token")),
                              token)) {
      res.set_header("WWW-Authenticate", "Bearer");
      return refuse(401, "missing or wrong token (send Authorization: Bearer <token>)");
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  const size_t max_body = options_.limits.max_image_bytes;
  http_->set_error_handler([max_body](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = res.status == 404   ? "not found"
                          : res.status == 400 ? "bad request"
                          : res.status == 405 ? "method not allowed"
                                              : "HTTP error " + std::to_string(res.status);
    if (res.status == 413) {
      message = "the request is too large (images up to " + std::to_string(max_body) + " bytes)";
    }
    res.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
  });
  http_->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        res.status = 500;
        res.set_content(nlohmann::json{{"error", "internal error: " + what}}.dump(),
                        "application/json");
      });
  http_->set_logger([](const httplib::Request& req, const httplib::Response& res) {
    spdlog::debug("{} {} -> {}", req.method, req.path, res.status);
  });
  register_routes(*http_, *context_);
}

Server::~Server() {
  stop();
}

int Server::bind() {
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
    if (port_ <= 0) throw IoError("cannot bind to " + options_.host + " (any port)");
  } else {
    if (!http_->bind_to_port(options_.host, options_.port)) {
      throw IoError("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                    " (in use, or not an address of this machine)");
    }
    port_ = options_.port;
  }
  return port_;
}

void Server::run() {
  if (relay_) relay_->start();
  if (runner_) {
    runner_->start();
    runner_->notify();
  }
  http_->listen_after_bind();
}

void Server::stop() {
  if (events_) events_->close();  // ends event streams so their threads return
  if (http_) http_->stop();
  if (runner_) runner_->stop();
  if (relay_) relay_->stop();
}

std::string Server::url() const {
  const std::string h = options_.host.find(':') != std::string::npos && options_.host[0] != '['
                            ? "[" + options_.host + "]"
                            : options_.host;
  return "http://" + h + ":" + std::to_string(port_) + "/";
}

JobStore& Server::store() {
  return *store_;
}

}  // namespace i2v::server
