// The HTTP API end to end on loopback: every route, the events stream, persistence across an
// in-process restart, authentication, and hostile input answered with 4xx JSON (never a crash).
#include <numeric>
#include <regex>

#include "i2v/server/base64.h"
#include "server_fixture.h"

namespace i2v::test {
namespace {
namespace fs = std::filesystem;

using ServerApi = ServerFixture;

TEST_F(ServerApi, SystemReportsDeviceMemoryModelPlanAndQueue) {
  auto s = get_json("/api/system");
  EXPECT_EQ(s.at("device"), "cpu");
  EXPECT_GT(s.at("memory").at("rss_bytes").get<double>(), 1e6);
  EXPECT_GE(s.at("memory").at("peak_rss_bytes"), s.at("memory").at("rss_bytes"));
  EXPECT_GT(s.at("memory").at("total_bytes").get<double>(), 0);
  EXPECT_GT(s.at("model").at("weights_bytes").get<double>(), 0);
  EXPECT_TRUE(s.at("plan").contains("precision"));
  EXPECT_EQ(s.at("queue_length"), 0);
  EXPECT_EQ(s.at("presets").size(), 3u);
  EXPECT_EQ(s.at("limits").at("frames").at("max"), 128);
}

TEST_F(ServerApi, OpenApiDocumentDescribesEveryRoute) {
  auto d = get_json("/api/openapi.json");
  EXPECT_EQ(d.at("openapi"), "3.0.3");
  for (const char* path :
       {"/api/jobs", "/api/jobs/{id}", "/api/jobs/{id}/events", "/api/jobs/{id}/image",
        "/api/system", "/api/estimate", "/api/openapi.json", "/outputs/{name}"}) {
    EXPECT_TRUE(d.at("paths").contains(path)) << path;
  }
  EXPECT_TRUE(d["paths"]["/api/jobs"].contains("post"));
  EXPECT_TRUE(d["paths"]["/api/jobs/{id}"].contains("delete"));
}

TEST_F(ServerApi, ServesTheEmbeddedPage) {
  auto r = client_->Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(r->body.find("<label for=\"prompt\">"), std::string::npos);
  EXPECT_NE(r->body.find("/app.js"), std::string::npos);
  for (const char* asset : {"/app.js", "/style.css"}) {
    auto a = client_->Get(asset);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->status, 200) << asset;
    EXPECT_GT(a->body.size(), 500u) << asset;
  }
  auto missing = client_->Get("/nothing.html");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(ServerApi, MultipartJobRunsAndItsOutputsAreServed) {
  auto [status, job] = submit(small_params());
  ASSERT_EQ(status, 201) << job.dump();
  EXPECT_EQ(job.at("status"), "queued");
  EXPECT_EQ(job.at("params").at("seed"), 7);
  EXPECT_EQ(job.at("image_format"), "png");
  EXPECT_EQ(job.at("image_name"), "fox.png");
  const int64_t id = job.at("id");
  auto done = wait_terminal(id);
  ASSERT_EQ(done.at("status"), "finished") << done.dump();
  EXPECT_EQ(done.at("attempts"), 1);
  EXPECT_EQ(done.at("step"), 2);
  const std::string video = done.at("urls").at("video");
  EXPECT_TRUE(
      std::regex_match(video, std::regex(R"(/outputs/video_\d{8}_\d{6}(_\d+)?_j\d+-\d+\.mp4)")))
      << video;
  auto v = client_->Get(video.c_str());
  ASSERT_TRUE(v);
  EXPECT_EQ(v->status, 200);
  EXPECT_EQ(v->get_header_value("Content-Type"), "video/mp4");
  ASSERT_GT(v->body.size(), 100u);
  EXPECT_EQ(v->body.substr(4, 4), "ftyp");
  auto meta = get_json(done.at("urls").at("metadata"));
  EXPECT_EQ(meta.at("params").at("frames"), 8);
  EXPECT_EQ(meta.at("params").at("seed"), 7);
  EXPECT_EQ(meta.at("job"), id);
  auto thumb = client_->Get(done.at("urls").at("thumbnail").get<std::string>().c_str());
  ASSERT_TRUE(thumb);
  EXPECT_EQ(thumb->body.substr(0, 2), "\xFF\xD8");  // JPEG
  // Range requests (the video player seeks with them).
  auto part = client_->Get(video.c_str(), {{"Range", "bytes=0-9"}});
  ASSERT_TRUE(part);
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->body.size(), 10u);
  // The input image comes back byte for byte; the download form sets a file name.
  auto img = client_->Get(("/api/jobs/" + std::to_string(id) + "/image").c_str());
  ASSERT_TRUE(img);
  EXPECT_EQ(img->body, input_png());
  EXPECT_EQ(img->get_header_value("Content-Type"), "image/png");
  auto dl = client_->Get((video + "?download=1").c_str());
  ASSERT_TRUE(dl);
  EXPECT_NE(dl->get_header_value("Content-Disposition").find("attachment"), std::string::npos);
}

TEST_F(ServerApi, JsonWithBase64ImageAndDataUrl) {
  nlohmann::json p = small_params(1);
  p["image"] = server::base64_encode(input_png());
  p["image_name"] = "../../etc/fox.png";
  auto r = client_->Post("/api/jobs", p.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  auto job = nlohmann::json::parse(r->body);
  EXPECT_EQ(job.at("image_name"), "fox.png");  // only a label, path parts dropped
  p["image"] = "data:image/png;base64," + server::base64_encode(input_png());
  p.erase("image_name");
  r = client_->Post("/api/jobs", p.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 201) << r->body;
  EXPECT_EQ(wait_terminal(nlohmann::json::parse(r->body).at("id")).at("status"), "finished");
  EXPECT_EQ(wait_terminal(job.at("id")).at("status"), "finished");
}

TEST_F(ServerApi, EventsStreamQueuedStartedStepsPreviewsAndFinished) {
  auto [status, job] = submit(small_params(3));
  ASSERT_EQ(status, 201);
  const int64_t id = job.at("id");
  std::string stream;
  auto r = client_->Get(("/api/jobs/" + std::to_string(id) + "/events").c_str(),
                        [&](const char* data, size_t n) {
                          stream.append(data, n);
                          return true;
                        });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  // Parse "event: X\n...data: Y\n\n" blocks.
  std::vector<std::pair<std::string, nlohmann::json>> events;
  std::regex block(R"(event: (\w+)\n(?:id: \d+\n)?data: ([^\n]*)\n\n)");
  for (auto it = std::sregex_iterator(stream.begin(), stream.end(), block);
       it != std::sregex_iterator(); ++it) {
    events.emplace_back((*it)[1], nlohmann::json::parse((*it)[2].str()));
  }
  ASSERT_GE(events.size(), 5u) << stream.substr(0, 2000);
  std::vector<std::string> types;
  for (auto& e : events) types.push_back(e.first);
  EXPECT_EQ(types.front(), "state");
  EXPECT_EQ(types.back(), "finished");
  int steps = 0, previews = 0;
  std::vector<int> frames;  // streaming output: each decoded frame, in order, after the steps
  for (auto& [type, d] : events) {
    if (type == "frame") {
      EXPECT_EQ(steps, 3) << "a frame before the last step";
      frames.push_back(d.at("index").get<int>());
      EXPECT_EQ(d.at("total"), job.at("params").at("frames"));
      const std::string url = d.at("image");
      ASSERT_EQ(url.rfind("data:image/jpeg;base64,", 0), 0u);
      auto jpg = server::base64_decode(url.substr(23));
      ASSERT_TRUE(jpg);
      EXPECT_EQ(jpg->substr(0, 2), "\xFF\xD8");
    }
    if (type == "step") {
      ++steps;
      EXPECT_EQ(d.at("total"), 3);
      EXPECT_GT(d.at("seconds_per_step").get<double>(), 0);
      EXPECT_GE(d.at("eta_seconds").get<double>(), 0);
      EXPECT_GT(d.at("memory").at("rss_bytes").get<double>(), 0);
    }
    if (type == "preview") {
      ++previews;
      const std::string url = d.at("image");
      ASSERT_EQ(url.rfind("data:image/jpeg;base64,", 0), 0u);
      auto jpg = server::base64_decode(url.substr(23));
      ASSERT_TRUE(jpg);
      EXPECT_EQ(jpg->substr(0, 2), "\xFF\xD8");
    }
    if (type == "finished") {
      EXPECT_EQ(d.at("urls").at("video").get<std::string>().rfind("/outputs/video_", 0), 0u);
    }
  }
  EXPECT_EQ(steps, 3) << stream.substr(0, 500);
  EXPECT_GE(previews, 1);
  std::vector<int> expected(job.at("params").at("frames").get<int>());
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(frames, expected);
  // A finished job's stream is its state and the final event, at once.
  std::string again;
  client_->Get(("/api/jobs/" + std::to_string(id) + "/events").c_str(),
               [&](const char* data, size_t n) {
                 again.append(data, n);
                 return true;
               });
  EXPECT_EQ(again.rfind("event: state\n", 0), 0u);
  EXPECT_NE(again.find("event: finished\n"), std::string::npos);
}

TEST_F(ServerApi, ListsJobsNewestFirstAndFilters) {
  auto a = submit(small_params(1)).second;
  auto b = submit(small_params(1)).second;
  wait_terminal(b.at("id"));
  auto list = get_json("/api/jobs");
  ASSERT_GE(list.at("jobs").size(), 2u);
  EXPECT_EQ(list["jobs"][0].at("id"), b.at("id"));
  EXPECT_EQ(list["jobs"][1].at("id"), a.at("id"));
  auto finished = get_json("/api/jobs?status=finished&limit=1");
  EXPECT_EQ(finished.at("jobs").size(), 1u);
  EXPECT_EQ(finished["jobs"][0].at("status"), "finished");
  EXPECT_EQ(get_json("/api/jobs?status=queued").at("jobs").size(), 0u);
}

TEST_F(ServerApi, CancelsQueuedAndRunningJobs) {
  nlohmann::json slow = small_params(40);
  slow["prompt"] = "[slow] fox";
  auto running = submit(slow).second;
  auto queued = submit(small_params(1)).second;
  const std::string run_path = "/api/jobs/" + std::to_string(running.at("id").get<int64_t>());
  for (int i = 0; i < 400 && get_json(run_path).at("step") < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto r = client_->Delete(("/api/jobs/" + std::to_string(queued.at("id").get<int64_t>())).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(nlohmann::json::parse(r->body).at("status"), "cancelled");
  r = client_->Delete(run_path.c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202) << r->body;
  auto j = wait_terminal(running.at("id"));
  EXPECT_EQ(j.at("status"), "cancelled");
  EXPECT_LT(j.at("step").get<int>(), 40);
  // The worker goes on with new jobs.
  auto next = submit(small_params(1)).second;
  EXPECT_EQ(wait_terminal(next.at("id")).at("status"), "finished");
}

TEST_F(ServerApi, DeletingAFinishedJobRemovesItAndItsFiles) {
  auto job = submit(small_params(1)).second;
  auto done = wait_terminal(job.at("id"));
  ASSERT_EQ(done.at("status"), "finished");
  const fs::path video = options_.outputs_dir / done.at("result").at("video").get<std::string>();
  ASSERT_TRUE(fs::exists(video));
  const std::string path = "/api/jobs/" + std::to_string(job.at("id").get<int64_t>());
  auto r = client_->Delete(path.c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(fs::exists(video));
  EXPECT_FALSE(fs::exists(video.string() + ".json"));
  get_json(path, 404);
  r = client_->Delete(path.c_str());
  EXPECT_EQ(r->status, 404);
}

TEST_F(ServerApi, GenerationFailuresFailTheJobNotTheServer) {
  nlohmann::json p = small_params(1);
  p["prompt"] = "[oom] fox";
  auto oom = wait_terminal(submit(p).second.at("id"));
  EXPECT_EQ(oom.at("status"), "failed");
  EXPECT_NE(oom.at("error").get<std::string>().find("out of memory"), std::string::npos);
  p["prompt"] = "[torch] fox";
  auto torch = wait_terminal(submit(p).second.at("id"));
  EXPECT_EQ(torch.at("status"), "failed");
  EXPECT_NE(torch.at("error").get<std::string>().find("injected libtorch failure"),
            std::string::npos);
  // The failure arrives as an event too.
  std::string stream;
  client_->Get(("/api/jobs/" + std::to_string(torch.at("id").get<int64_t>()) + "/events").c_str(),
               [&](const char* d, size_t n) {
                 stream.append(d, n);
                 return true;
               });
  EXPECT_NE(stream.find("event: failed\n"), std::string::npos);
  EXPECT_EQ(wait_terminal(submit(small_params(1)).second.at("id")).at("status"), "finished");
}

TEST_F(ServerApi, EstimateGrowsWithTheVideoAndChecksRanges) {
  auto post = [&](const nlohmann::json& j) {
    return client_->Post("/api/estimate", j.dump(), "application/json");
  };
  auto small = post({{"resolution", "256p"}, {"frames", 8}});
  auto big = post({{"resolution", "768p"}, {"frames", 24}});
  ASSERT_TRUE(small && big);
  ASSERT_EQ(small->status, 200) << small->body;
  auto s = nlohmann::json::parse(small->body).at("estimate");
  auto b = nlohmann::json::parse(big->body).at("estimate");
  EXPECT_GT(b.at("predicted_peak_bytes").get<double>(), s.at("predicted_peak_bytes").get<double>());
  // The memory engine's planner: every standard plan is a candidate, cheapest last, and the
  // chosen plan's prediction is the estimate.
  EXPECT_NE(s.at("method").get<std::string>().find("memory engine"), std::string::npos);
  EXPECT_TRUE(s.at("fits").get<bool>()) << s.dump();
  const auto& cands = b.at("candidates");
  ASSERT_EQ(cands.size(), 4u) << b.dump();
  EXPECT_EQ(cands.front().at("plan"), "plain");
  EXPECT_EQ(cands.back().at("plan"), "stream");
  EXPECT_LT(cands.back().at("predicted_peak_bytes").get<double>(),
            cands.front().at("predicted_peak_bytes").get<double>());
  bool chosen_listed = false;
  for (const auto& c : cands) {
    if (c.at("plan") == b.at("plan")) {
      chosen_listed = true;
      EXPECT_EQ(c.at("predicted_peak_bytes"), b.at("predicted_peak_bytes"));
    }
  }
  EXPECT_TRUE(chosen_listed) << b.dump();
  auto bad = post({{"frames", 999}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("frames must be between 8 and 128"), std::string::npos) << bad->body;
  bad = client_->Post("/api/estimate", "{nope", "application/json");
  EXPECT_EQ(bad->status, 400);
}

TEST_F(ServerApi, HistorySurvivesARestartAndOutputsAreNotOverwritten) {
  auto first = wait_terminal(submit(small_params(1)).second.at("id"));
  stop();
  start(options_);
  auto again = get_json("/api/jobs/" + std::to_string(first.at("id").get<int64_t>()));
  EXPECT_EQ(again.at("status"), "finished");
  EXPECT_EQ(again.at("urls"), first.at("urls"));
  auto second = wait_terminal(submit(small_params(1)).second.at("id"));
  EXPECT_NE(second.at("urls").at("video"), first.at("urls").at("video"));
  EXPECT_GT(second.at("id").get<int64_t>(), first.at("id").get<int64_t>());
  for (auto* j : {&first, &second}) {
    auto r = client_->Get((*j).at("urls").at("video").get<std::string>().c_str());
    EXPECT_EQ(r->status, 200);
  }
}

// ---- hostile input -------------------------------------------------------------------------

struct BadParams {
  nlohmann::json patch;
  std::string message;
};

TEST_F(ServerApi, OutOfRangeParametersAreClear400s) {
  const std::vector<BadParams> cases = {
      {{{"frames", 7}}, "frames must be between 8 and 128"},
      {{{"frames", 129}}, "frames must be between 8 and 128"},
      {{{"frames", 8.5}}, "frames must be a whole number"},
      {{{"frames", "16"}}, "frames must be a number"},
      {{{"fps", 3}}, "fps must be between 4 and 24"},
      {{{"fps", 25}}, "fps must be between 4 and 24"},
      {{{"steps", 0}}, "steps must be between 1 and 150"},
      {{{"steps", 1e12}}, "steps must be between 1 and 150"},
      {{{"guidance", 30}}, "guidance must be between"},
      {{{"guidance", "high"}}, "guidance must be a number"},
      {{{"seed", -5}}, "seed must be -1"},
      {{{"seed", 1.5}}, "seed must be a whole number"},
      {{{"width", 70}}, "multiples of 8"},
      {{{"width", 2048}}, "width must be between 64 and 1024"},
      {{{"prompt", ""}}, "prompt must not be empty"},
      {{{"prompt", 5}}, "prompt must be a string"},
      {{{"prompt", std::string(3000, 'a')}}, "prompt is too long"},
      {{{"colour", "red"}}, "unknown parameter 'colour'"},
      {{{"window", 1}}, "window must be -1 (auto"},
      {{{"window", 40}}, "window must be -1 (auto"},
      {{{"window", 8}, {"window_stride", 9}}, "window_stride must be between 1 and the window"},
      {{{"window_fuse", "gaussian"}}, "window_fuse must be pyramid or flat"},
  };
  for (const auto& c : cases) {
    nlohmann::json p = small_params();
    for (auto& kv : c.patch.items()) p[kv.key()] = kv.value();
    auto [status, body] = submit(p);
    EXPECT_EQ(status, 400) << c.patch.dump() << " " << body.dump();
    EXPECT_NE(body.value("error", "").find(c.message), std::string::npos)
        << c.patch.dump() << " -> " << body.dump();
  }
  nlohmann::json p = {{"prompt", "fox"}, {"resolution", "300p"}};
  auto [status, body] = submit(p);
  EXPECT_EQ(status, 400);
  EXPECT_NE(body.value("error", "").find("256p, 512p, 768p or 1024p"), std::string::npos);
  EXPECT_EQ(get_json("/api/jobs").at("jobs").size(), 0u);  // nothing was queued
}

TEST_F(ServerApi, MalformedBodiesAndImagesAreRefusedWithoutACrash) {
  auto post = [&](const std::string& body, const std::string& type) {
    return client_->Post("/api/jobs", body, type.c_str());
  };
  struct Case {
    std::string body, type;
    int status;
    std::string message;
  };
  const std::string png = input_png();
  const std::vector<Case> cases = {
      {"{not json", "application/json", 400, "not valid JSON"},
      {"[1,2]", "application/json", 400, "must be a JSON object"},
      {R"({"prompt":"fox"})", "application/json", 400, "needs 'image'"},
      {R"({"prompt":"fox","image":"***"})", "application/json", 400, "not valid base64"},
      {R"({"prompt":"fox","image":"data:image/png,abc"})", "application/json", 400,
       "must be base64"},
      {nlohmann::json{{"prompt", "fox"}, {"image", server::base64_encode("hello, not an image")}}
           .dump(),
       "application/json", 415, "not a PNG, JPEG, WebP or BMP"},
      {nlohmann::json{{"prompt", "fox"}, {"image", server::base64_encode("GIF89a......")}}.dump(),
       "application/json", 415, "not a PNG, JPEG, WebP or BMP"},
      {nlohmann::json{{"prompt", "fox"}, {"image", server::base64_encode(png.substr(0, 200))}}
           .dump(),
       "application/json", 415, "uploaded image"},
      {"prompt=fox", "application/x-www-form-urlencoded", 415, "multipart/form-data"},
      {"--xyz\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nabc",
       "multipart/form-data; boundary=xyz", 400, ""},
  };
  for (const auto& c : cases) {
    auto r = post(c.body, c.type);
    ASSERT_TRUE(r) << c.body.substr(0, 60);
    EXPECT_EQ(r->status, c.status) << c.body.substr(0, 60) << " -> " << r->body;
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r->body;
    EXPECT_NE(j.value("error", "").find(c.message), std::string::npos)
        << c.body.substr(0, 60) << " -> " << r->body;
  }
  // Multipart without the image part, and with a broken params part.
  httplib::MultipartFormDataItems no_image = {{"params", small_params().dump(), "", ""}};
  auto r = client_->Post("/api/jobs", no_image);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("no 'image' file part"), std::string::npos) << r->body;
  httplib::MultipartFormDataItems bad_params = {{"image", png, "a.png", "image/png"},
                                                {"params", "{oops", "", ""}};
  r = client_->Post("/api/jobs", bad_params);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("'params' part is not valid JSON"), std::string::npos) << r->body;
  // An image that is not what its name says is judged by its content.
  auto [status, body] = submit(small_params(), "BM not really", "x.bmp");
  EXPECT_EQ(status, 415) << body.dump();
  // The server is still fine.
  EXPECT_EQ(get_json("/api/system").at("queue_length"), 0);
}

TEST_F(ServerApi, OversizedUploadsAre413) {
  stop();
  server::ServerOptions o;
  o.outputs_dir = tmp_ / "outputs";
  o.limits.max_image_bytes = 1000;  // the test PNG is larger
  start(o);
  auto [status, body] = submit(small_params());
  EXPECT_EQ(status, 413) << body.dump();
  EXPECT_NE(body.value("error", "").find("too large"), std::string::npos) << body.dump();
  // Far beyond the limit: the server stops reading and answers 413 itself.
  auto r = client_->Post("/api/jobs", std::string(4 << 20, 'x'), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(nlohmann::json::parse(r->body, nullptr, false).contains("error")) << r->body;
}

TEST_F(ServerApi, AFullQueueIs429) {
  stop();
  server::ServerOptions o;
  o.outputs_dir = tmp_ / "outputs";
  o.max_queued = 1;
  start(o);
  nlohmann::json slow = small_params(40);
  slow["prompt"] = "[slow] fox";
  auto running = submit(slow).second;
  const std::string path = "/api/jobs/" + std::to_string(running.at("id").get<int64_t>());
  for (int i = 0; i < 400 && get_json(path).at("status") != "running"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(submit(small_params(1)).first, 201);  // waits
  auto [status, body] = submit(small_params(1));
  EXPECT_EQ(status, 429);
  EXPECT_NE(body.value("error", "").find("queue is full"), std::string::npos) << body.dump();
  client_->Delete(path.c_str());
}

TEST_F(ServerApi, AReconnectingEventStreamSkipsWhatItSaw) {
  nlohmann::json slow = small_params(6);
  slow["prompt"] = "[slow] fox";
  auto job = submit(slow).second;
  const std::string path = "/api/jobs/" + std::to_string(job.at("id").get<int64_t>()) + "/events";
  // Read until the first step, then drop the connection (as a browser losing the network).
  std::string first;
  client_->Get(path.c_str(), [&](const char* d, size_t n) {
    first.append(d, n);
    return first.find("event: step\n") == std::string::npos;
  });
  std::vector<std::string> ids;
  const std::regex id_line(R"(\nid: (\d+)\n)");
  for (auto it = std::sregex_iterator(first.begin(), first.end(), id_line);
       it != std::sregex_iterator(); ++it) {
    ids.push_back((*it)[1]);
  }
  ASSERT_FALSE(ids.empty()) << first;
  std::string resumed;
  client_->Get(path.c_str(), {{"Last-Event-ID", ids.back()}}, [&](const char* d, size_t n) {
    resumed.append(d, n);
    return true;
  });
  EXPECT_EQ(resumed.rfind("event: state\n", 0), 0u);
  for (const auto& id : ids) {
    EXPECT_EQ(resumed.find("\nid: " + id + "\n"), std::string::npos) << "event " << id << " again";
  }
  EXPECT_EQ(resumed.find("event: started\n"), std::string::npos);
  EXPECT_NE(resumed.find("\"step\":6"), std::string::npos) << resumed.substr(0, 300);
  EXPECT_NE(resumed.find("event: finished\n"), std::string::npos);
}

TEST_F(ServerApi, UnknownJobsAndRoutesAre404Json) {
  for (const char* path : {"/api/jobs/999", "/api/jobs/999/events", "/api/jobs/999/image",
                           "/api/nothing", "/api/jobs/abc"}) {
    auto r = client_->Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 404) << path;
    EXPECT_TRUE(nlohmann::json::parse(r->body, nullptr, false).contains("error"))
        << path << " " << r->body;
  }
  EXPECT_EQ(client_->Delete("/api/jobs/999")->status, 404);
  EXPECT_EQ(client_->Get("/api/jobs?limit=0")->status, 400);
  EXPECT_EQ(client_->Get("/api/jobs?limit=x")->status, 400);
  EXPECT_EQ(client_->Get("/api/jobs?status=bogus")->status, 400);
}

TEST_F(ServerApi, NoPathTraversalThroughOutputs) {
  auto done = wait_terminal(submit(small_params(1)).second.at("id"));
  ASSERT_EQ(done.at("status"), "finished");
  std::ofstream(tmp_ / "secret.json") << "{\"secret\": 1}";
  std::ofstream(options_.outputs_dir / ".hidden.json") << "{}";
  fs::create_symlink(tmp_ / "secret.json", options_.outputs_dir / "link.json");
  for (const char* path :
       {"/outputs/../secret.json", "/outputs/%2e%2e/secret.json", "/outputs/..%2fsecret.json",
        "/outputs/i2v-jobs.sqlite", "/outputs/.hidden.json", "/outputs/link.json", "/outputs/",
        "/outputs/%2fetc%2fpasswd", "/outputs/..", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
        "/outputs/video.mp4%00.json"}) {
    auto r = client_->Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 404) << path << ": " << r->body.substr(0, 80);
    EXPECT_EQ(r->body.find("secret"), std::string::npos) << path;
  }
}

TEST_F(ServerApi, RefusesRequestsAddressedToOtherHosts) {
  auto r = client_->Get("/api/system", {{"Host", "evil.example:7860"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(client_->Get("/api/system", {{"Host", "localhost:7860"}})->status, 200);
}

TEST_F(ServerApi, ATokenGuardsEveryApiCall) {
  stop();
  server::ServerOptions o;
  o.outputs_dir = tmp_ / "outputs";
  o.token = "s3cret-token";
  start(o);
  EXPECT_EQ(client_->Get("/")->status, 200);  // the page itself carries no data
  for (const char* path :
       {"/api/system", "/api/jobs", "/api/openapi.json", "/api/jobs/1", "/outputs/video_x.mp4"}) {
    auto r = client_->Get(path);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_TRUE(nlohmann::json::parse(r->body, nullptr, false).contains("error"));
  }
  EXPECT_EQ(client_->Get("/api/system", {{"Authorization", "Bearer wrong"}})->status, 401);
  EXPECT_EQ(client_->Get("/api/system?token=s3cret-tokeN")->status, 401);
  EXPECT_EQ(client_->Get("/api/system", {{"Authorization", "Bearer s3cret-token"}})->status, 200);
  EXPECT_EQ(client_->Get("/api/system?token=s3cret-token")->status, 200);
  auto [status, body] = submit(small_params());
  EXPECT_EQ(status, 401);
  EXPECT_EQ(client_->Delete("/api/jobs/1")->status, 401);
}

TEST(ServerOptionsTest, BindingBeyondLoopbackNeedsAToken) {
  TempDir tmp;
  server::ServerOptions o;
  o.host = "0.0.0.0";
  o.outputs_dir = tmp / "outputs";
  try {
    server::Server s(o, golden_generator());
    FAIL() << "accepted 0.0.0.0 without a token";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--token"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace i2v::test

namespace i2v::test {
namespace {

// The same server over the golden model quantized to int8 (`i2v quantize`, UNet and encoders).
class EightBitServer : public ServerFixture {
 protected:
  std::shared_ptr<server::VideoGenerator> generator() override {
    static TempDir dir;
    static std::shared_ptr<server::VideoGenerator> g = [] {
      const std::filesystem::path model = dir / "int8";
      std::string out;
      const int rc =
          run_command(i2v_binary().string() + " quantize --model " + golden_pipeline().string() +
                          " --to int8 --out " + model.string() +
                          " --components unet,text_encoder,image_encoder",
                      &out);
      EXPECT_EQ(rc, 0) << out;
      ModelOptions m;
      m.model = model.string();
      m.precision = "bf16";
      return std::make_shared<server::LibraryGenerator>(m);
    }();
    return g;
  }
};

TEST_F(EightBitServer, SaysTheWeightsAreEightBitAndTheResultApproximate) {
  const nlohmann::json system = get_json("/api/system");
  EXPECT_EQ(system["model"]["weights_8bit"]["unet"], "int8") << system.dump();
  EXPECT_EQ(system["model"]["weights_8bit"]["image_encoder"], "int8");
  nlohmann::json params = small_params();
  params.erase("prompt");
  auto r = client_->Post("/api/estimate", params.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const nlohmann::json estimate = nlohmann::json::parse(r->body)["estimate"];
  EXPECT_FALSE(estimate["exact"].get<bool>());
  EXPECT_EQ(estimate["weights_8bit"]["text_encoder"], "int8");
  auto [status, job] = submit(small_params());
  ASSERT_EQ(status, 201) << job.dump();
  const nlohmann::json done = wait_terminal(job["id"].get<int64_t>());
  ASSERT_EQ(done["status"], "finished") << done.dump();
  EXPECT_FALSE(done["result"]["exact"].get<bool>());
}

}  // namespace
}  // namespace i2v::test

namespace i2v::test {
namespace {

// A server with a LoRA folder: the files are listed, chosen per job by name with a scale, and
// recorded with the result; anything else is a clear 400 before the job is queued.
class LoraServer : public ServerFixture {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(tmp_ / "loras");
    std::string out;
    const int rc =
        run_command(i2v_binary().string() + " make-lora --model " + golden_pipeline().string() +
                        " --rank 4 --out " + (tmp_ / "loras" / "style.safetensors").string() +
                        " --components unet,text_encoder --layout kohya",
                    &out);
    ASSERT_EQ(rc, 0) << out;
    std::ofstream(tmp_ / "loras" / "notes.txt") << "not a LoRA";
    server::ServerOptions o;
    o.lora_dir = tmp_ / "loras";
    start(o);
  }
};

TEST_F(LoraServer, ListsTheFolderAndRunsAJobWithAChosenLora) {
  const nlohmann::json system = get_json("/api/system");
  ASSERT_EQ(system["loras"].size(), 1u) << system.dump();
  EXPECT_EQ(system["loras"][0]["name"], "style.safetensors");
  EXPECT_GT(system["loras"][0]["bytes"].get<int64_t>(), 0);
  EXPECT_EQ(system["limits"]["loras"]["max"], 4);

  nlohmann::json params = small_params();
  params["loras"] = {{{"name", "style.safetensors"}, {"scale", 0.5}}};
  auto [status, job] = submit(params);
  ASSERT_EQ(status, 201) << job.dump();
  EXPECT_EQ(job["params"]["loras"][0]["scale"], 0.5);
  const nlohmann::json done = wait_terminal(job["id"].get<int64_t>());
  ASSERT_EQ(done["status"], "finished") << done.dump();
  EXPECT_EQ(done["result"]["loras"][0]["file"], "style.safetensors") << done.dump();
  EXPECT_EQ(done["result"]["loras"][0]["scale"], 0.5);
  EXPECT_EQ(done["result"]["loras"][0]["sha256"].get<std::string>().size(), 64u);
}

TEST_F(LoraServer, UnknownOrHostileLoraChoicesAre400) {
  const std::vector<std::pair<nlohmann::json, std::string>> cases = {
      {{{{"name", "missing.safetensors"}}}, "no LoRA named"},
      {{{{"name", "../loras/style.safetensors"}}}, "file name"},
      {{{{"name", "notes.txt"}}}, "no LoRA named"},
      {{{{"name", "style.safetensors"}, {"scale", 7}}}, "between"},
      {{{{"name", "style.safetensors"}, {"weight", 1}}}, "unknown lora field"},
      {"style.safetensors", "list"},
  };
  for (const auto& [loras, why] : cases) {
    nlohmann::json params = small_params();
    params["loras"] = loras;
    auto [status, body] = submit(params);
    EXPECT_EQ(status, 400) << loras.dump();
    EXPECT_NE(body.dump().find(why), std::string::npos) << body.dump();
  }
}

TEST_F(ServerApi, JobsWithLorasNeedALoraFolder) {
  nlohmann::json params = small_params();
  params["loras"] = {{{"name", "style.safetensors"}}};
  auto [status, body] = submit(params);
  EXPECT_EQ(status, 400);
  EXPECT_NE(body.dump().find("--lora-dir"), std::string::npos) << body.dump();
}

}  // namespace
}  // namespace i2v::test
