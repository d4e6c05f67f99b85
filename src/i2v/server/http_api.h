// The routes: the web page, /api/* (jobs, events, system, estimate, OpenAPI) and /outputs/*.
// Every answer of the API is JSON; every error is {"error": "..."} with a 4xx/5xx status.
#pragma once

#include <chrono>
#include <memory>

#include <httplib.h>

#include "i2v/server/event_broadcaster.h"
#include "i2v/server/job_runner.h"
#include "i2v/server/job_store.h"
#include "i2v/server/server.h"

namespace i2v::server {

struct ApiContext {
  const ServerOptions& options;
  JobStore& store;
  EventBroadcaster& events;
  JobRunner* runner;  // null when this process runs no jobs (a front for remote workers)
  VideoGenerator& generator;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

void register_routes(httplib::Server& http, ApiContext& ctx);

// The OpenAPI 3 document of the API.
const nlohmann::json& openapi_document();

}  // namespace i2v::server
