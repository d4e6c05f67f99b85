// An in-process `i2v serve` on a free loopback port, over the golden tiny pipeline (loaded once
// per test binary), with an httplib client and helpers to submit and wait for jobs.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "i2v/server/job_store.h"
#include "i2v/server/server.h"
#include "support/test_support.h"

namespace i2v::test {

inline std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string input_png() {
  return read_bytes(golden_dir() / "input_image.png");
}

// The golden pipeline, loaded once (fp32, deterministic).
std::shared_ptr<server::VideoGenerator> golden_generator();

// Wraps a generator and fails on purpose when the prompt asks for it: "[oom]" throws
// std::bad_alloc, "[torch]" a c10::Error, "[slow]" sleeps 50 ms per step (cancel tests).
class FaultInjectingGenerator : public server::VideoGenerator {
 public:
  explicit FaultInjectingGenerator(std::shared_ptr<server::VideoGenerator> inner)
      : inner_(std::move(inner)) {}
  void validate(const Request& r) const override { inner_->validate(r); }
  Estimate estimate(const Request& r) const override { return inner_->estimate(r); }
  Result generate(const Request& r, const Callbacks& callbacks) override;
  nlohmann::json describe() const override { return inner_->describe(); }

 private:
  std::shared_ptr<server::VideoGenerator> inner_;
};

// Small, fast parameters for the tiny model.
inline nlohmann::json small_params(int steps = 2) {
  return {{"prompt", "A red fox"}, {"width", 64},     {"height", 64}, {"frames", 8}, {"fps", 8},
          {"steps", steps},        {"guidance", 9.0}, {"seed", 7}};
}

class ServerFixture : public ::testing::Test {
 protected:
  void SetUp() override { start(); }
  void TearDown() override { stop(); }

  void start(server::ServerOptions o = {}) {
    o.host = "127.0.0.1";
    o.port = 0;
    if (o.outputs_dir == "outputs") o.outputs_dir = tmp_ / "outputs";
    options_ = o;
    server_ = std::make_unique<server::Server>(o, generator());
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->run(); });
    client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client_->set_read_timeout(60, 0);
    for (int i = 0; i < 100; ++i) {
      if (auto r = client_->Get("/api/system"); r) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "the server did not answer";
  }

  void stop() {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
    client_.reset();
    server_.reset();
  }

  virtual std::shared_ptr<server::VideoGenerator> generator() {
    static auto g = std::make_shared<FaultInjectingGenerator>(golden_generator());
    return g;
  }

  httplib::Headers auth() const { return {}; }

  // POST /api/jobs as multipart (image file + params JSON). Returns status and JSON body.
  std::pair<int, nlohmann::json> submit(const nlohmann::json& params,
                                        const std::string& image = input_png(),
                                        const std::string& filename = "fox.png") {
    httplib::MultipartFormDataItems items = {
        {"image", image, filename, "image/png"},
        {"params", params.dump(), "params.json", "application/json"}};
    auto r = client_->Post("/api/jobs", items);
    if (!r) return {0, nullptr};
    return {r->status, nlohmann::json::parse(r->body, nullptr, false)};
  }

  nlohmann::json get_json(const std::string& path, int expect = 200) {
    auto r = client_->Get(path.c_str());
    EXPECT_TRUE(r) << path;
    if (!r) return nullptr;
    EXPECT_EQ(r->status, expect) << path << ": " << r->body;
    return nlohmann::json::parse(r->body, nullptr, false);
  }

  // Polls until the job is finished, failed or cancelled (or the timeout).
  nlohmann::json wait_terminal(int64_t id, double timeout_s = 120) {
    auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      nlohmann::json j = get_json("/api/jobs/" + std::to_string(id));
      const std::string s = j.is_object() ? j.value("status", "") : "";
      if (s == "finished" || s == "failed" || s == "cancelled") return j;
      if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() >
          timeout_s) {
        ADD_FAILURE() << "job " << id << " still " << s;
        return j;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  TempDir tmp_;
  server::ServerOptions options_;
  std::unique_ptr<server::Server> server_;
  std::thread thread_;
  std::unique_ptr<httplib::Client> client_;
  int port_ = 0;
};

}  // namespace i2v::test
