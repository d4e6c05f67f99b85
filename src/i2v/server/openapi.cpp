// The OpenAPI 3.0 description of the HTTP API served at /api/openapi.json.
#include "i2v/server/http_api.h"

namespace i2v::server {
namespace {

nlohmann::json ref(const std::string& name) {
  return {{"$ref", "#/components/schemas/" + name}};
}

nlohmann::json json_response(const std::string& description, const std::string& schema) {
  return {{"description", description},
          {"content", {{"application/json", {{"schema", ref(schema)}}}}}};
}

nlohmann::json error_response(const std::string& description) {
  return json_response(description, "Error");
}

nlohmann::json id_parameter() {
  return nlohmann::json::array({{{"name", "id"},
                                 {"in", "path"},
                                 {"required", true},
                                 {"schema", {{"type", "integer"}, {"minimum", 1}}}}});
}

}  // namespace

const nlohmann::json& openapi_document() {
  static const nlohmann::json doc = [] {
    nlohmann::json params_schema = {
        {"type", "object"},
        {"additionalProperties", false},
        {"required", {"prompt"}},
        {"properties",
         {{"prompt", {{"type", "string"}, {"maxLength", 2000}}},
          {"negative_prompt", {{"type", "string"}, {"maxLength", 2000}}},
          {"resolution",
           {{"type", "string"}, {"enum", {"256p", "512p", "768p", "1024p"}}, {"default", "512p"}}},
          {"width",
           {{"type", "integer"},
            {"minimum", 64},
            {"maximum", 1024},
            {"multipleOf", 8},
            {"description", "with height, instead of resolution"}}},
          {"height", {{"type", "integer"}, {"minimum", 64}, {"maximum", 1024}, {"multipleOf", 8}}},
          {"frames",
           {{"type", "integer"},
            {"minimum", 8},
            {"maximum", 128},
            {"default", 16},
            {"description", "beyond 16: frame windows (approximate)"}}},
          {"window",
           {{"type", "integer"},
            {"minimum", -1},
            {"maximum", 32},
            {"default", -1},
            {"description",
             "frames per UNet window: -1 = 16 when frames > 16, 0 = off (exact), 2..32"}}},
          {"window_stride", {{"type", "integer"}, {"minimum", 1}, {"maximum", 32}, {"default", 4}}},
          {"window_fuse",
           {{"type", "string"}, {"enum", {"pyramid", "flat"}}, {"default", "pyramid"}}},
          {"fps", {{"type", "integer"}, {"minimum", 4}, {"maximum", 24}, {"default", 8}}},
          {"steps", {{"type", "integer"}, {"minimum", 1}, {"maximum", 150}, {"default", 50}}},
          {"guidance", {{"type", "number"}, {"minimum", 1}, {"maximum", 20}, {"default", 9.0}}},
          {"seed",
           {{"type", "integer"},
            {"minimum", -1},
            {"maximum", 4294967295LL},
            {"default", -1},
            {"description", "-1 draws one; the job records the seed used"}}}}}};
    nlohmann::json job_schema = {
        {"type", "object"},
        {"properties",
         {{"id", {{"type", "integer"}}},
          {"status",
           {{"type", "string"},
            {"enum", {"queued", "running", "finished", "failed", "cancelled"}}}},
          {"params", ref("JobParams")},
          {"image_url", {{"type", "string"}}},
          {"events_url", {{"type", "string"}}},
          {"step", {{"type", "integer"}}},
          {"total_steps", {{"type", "integer"}}},
          {"seconds_per_step", {{"type", "number"}}},
          {"eta_seconds", {{"type", "number"}}},
          {"attempts", {{"type", "integer"}, {"description", "> 1 after an interruption"}}},
          {"interrupted",
           {{"type", "integer"},
            {"description", "times its server or worker stopped (or was lost) while it ran"}}},
          {"worker",
           {{"type", "string"}, {"description", "the worker running it, or that ran it last"}}},
          {"error", {{"type", "string"}}},
          {"urls",
           {{"type", "object"},
            {"properties",
             {{"video", {{"type", "string"}}},
              {"metadata", {{"type", "string"}}},
              {"thumbnail", {{"type", "string"}}}}}}},
          {"created_at", {{"type", "number"}, {"description", "Unix seconds"}}},
          {"started_at", {{"type", "number"}}},
          {"finished_at", {{"type", "number"}}}}}};
    nlohmann::json submit_json = params_schema;
    submit_json["required"] = {"prompt", "image"};
    submit_json["properties"]["image"] = {{"type", "string"},
                                          {"description", "the image as base64 or a data: URL"}};
    submit_json["properties"]["image_name"] = {{"type", "string"}};

    nlohmann::json d;
    d["openapi"] = "3.0.3";
    d["info"] = {{"title", "i2v serve"},
                 {"version", I2V_VERSION},
                 {"description",
                  "Image + prompt -> short video (I2VGen-XL). Jobs run one at a time per worker; "
                  "progress arrives as server-sent events. When the server has a token, every "
                  "/api and /outputs request needs Authorization: Bearer <token> or "
                  "?token=<token>. Errors are {\"error\": message}."}};
    d["components"]["schemas"] = {
        {"Error", {{"type", "object"}, {"properties", {{"error", {{"type", "string"}}}}}}},
        {"JobParams", params_schema},
        {"Job", job_schema},
        {"JobSubmission", submit_json},
        {"JobList",
         {{"type", "object"},
          {"properties",
           {{"jobs", {{"type", "array"}, {"items", ref("Job")}}},
            {"queue_length", {{"type", "integer"}}}}}}},
        {"System",
         {{"type", "object"},
          {"description",
           "version, device, threads, model, memory (rss/peak/total/available bytes), "
           "plan, queue_length, running, limits, presets, auth_required, jobs_store (sqlite:... "
           "or postgresql://...), workers (seen in the last minute: id, host, model, device, "
           "memory_budget_bytes, job)"}}},
        {"Estimate",
         {{"type", "object"},
          {"properties",
           {{"params", {{"type", "object"}}},
            {"estimate",
             {{"type", "object"},
              {"properties",
               {{"predicted_peak_bytes", {{"type", "integer"}}},
                {"weights_bytes", {{"type", "integer"}}},
                {"activation_bytes", {{"type", "integer"}}},
                {"available_bytes", {{"type", "integer"}}},
                {"fits", {{"type", "boolean"}}},
                {"plan", {{"type", "string"}}},
                {"message", {{"type", "string"}}},
                {"stages", {{"type", "object"}}},
                {"candidates", {{"type", "array"}}},
                {"method", {{"type", "string"}}}}}}}}}}}};
    d["components"]["securitySchemes"] = {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}};

    auto& p = d["paths"];
    p["/api/jobs"]["post"] = {
        {"summary", "Queue a generation"},
        {"requestBody",
         {{"required", true},
          {"content",
           {{"multipart/form-data",
             {{"schema",
               {{"type", "object"},
                {"required", {"image"}},
                {"properties",
                 {{"image",
                   {{"type", "string"},
                    {"format", "binary"},
                    {"description", "PNG, JPEG, WebP or BMP (told by content)"}}},
                  {"params", {{"type", "string"}, {"description", "JobParams as JSON"}}}}}}}}},
            {"application/json", {{"schema", ref("JobSubmission")}}}}}}},
        {"responses",
         {{"201", json_response("queued", "Job")},
          {"400", error_response("malformed request or a parameter out of range")},
          {"413", error_response("the upload is too large")},
          {"415", error_response("not an image this server reads")},
          {"429", error_response("the queue is full")}}}};
    p["/api/jobs"]["get"] = {
        {"summary", "Jobs, newest first"},
        {"parameters",
         {{{"name", "status"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
          {{"name", "limit"},
           {"in", "query"},
           {"schema", {{"type", "integer"}, {"minimum", 1}, {"maximum", 1000}}}}}},
        {"responses", {{"200", json_response("the jobs", "JobList")}}}};
    p["/api/jobs/{id}"]["get"] = {
        {"summary", "One job"},
        {"parameters", id_parameter()},
        {"responses",
         {{"200", json_response("the job", "Job")}, {"404", error_response("no such job")}}}};
    p["/api/jobs/{id}"]["delete"] = {
        {"summary",
         "Cancel a queued (200) or running (202, stops after the current step) job; delete a "
         "finished, failed or cancelled one from the history with its files (200)"},
        {"parameters", id_parameter()},
        {"responses",
         {{"200", {{"description", "cancelled or deleted"}}},
          {"202", {{"description", "cancelling"}}},
          {"404", error_response("no such job")}}}};
    p["/api/jobs/{id}/events"]["get"] = {
        {"summary",
         "Server-sent events: state (the job now), then queued, started, step (step, total, "
         "seconds_per_step, eta_seconds, memory), preview (image: JPEG data URL of frame 0 of "
         "the x0 prediction), interrupted, and one final finished (urls) / failed (error) / "
         "cancelled"},
        {"parameters", id_parameter()},
        {"responses", {{"200", {{"description", "text/event-stream"}}}}}};
    p["/api/jobs/{id}/image"]["get"] = {{"summary", "The job's input image"},
                                        {"parameters", id_parameter()},
                                        {"responses", {{"200", {{"description", "the image"}}}}}};
    p["/api/system"]["get"] = {{"summary", "Device, memory, model, plan, queue"},
                               {"responses", {{"200", json_response("system", "System")}}}};
    p["/api/estimate"]["post"] = {
        {"summary",
         "The memory planner for a job's parameters: chosen plan, predicted peak, candidates"},
        {"requestBody",
         {{"required", true}, {"content", {{"application/json", {{"schema", ref("JobParams")}}}}}}},
        {"responses",
         {{"200", json_response("estimate", "Estimate")},
          {"400", error_response("a parameter out of range")}}}};
    p["/api/openapi.json"]["get"] = {{"summary", "This document"},
                                     {"responses", {{"200", {{"description", "OpenAPI 3"}}}}}};
    p["/outputs/{name}"]["get"] = {
        {"summary", "A finished video (.mp4), its metadata (.mp4.json) or thumbnail (.thumb.jpg)"},
        {"parameters",
         {{{"name", "name"}, {"in", "path"}, {"required", true}, {"schema", {{"type", "string"}}}},
          {{"name", "download"}, {"in", "query"}, {"schema", {{"type", "string"}}}}}},
        {"responses",
         {{"200", {{"description", "the file"}}}, {"404", error_response("no such output")}}}};
    return d;
  }();
  return doc;
}

}  // namespace i2v::server
