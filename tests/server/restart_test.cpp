// The server as a process: killed with SIGKILL in the middle of a job and started again, it
// re-queues that job (marked interrupted) and finishes it, and everything finished before is
// still listed and served. A SIGTERM stops it gracefully, putting the running job back.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>

#include "server_fixture.h"

namespace i2v::test {
namespace {
namespace fs = std::filesystem;

// `i2v serve` in a child process on a free port; its output goes to a log file.
class ServeProcess {
 public:
  ServeProcess(const fs::path& dir, const std::string& log_name) {
    log_ = dir / log_name;
    const std::string cmd =
        "exec " + i2v_binary().string() + " --threads 1 serve --precision fp32 --port 0 --model " +
        golden_pipeline().string() + " --outputs " + (dir / "outputs").string() + " --logs " +
        (dir / "logs").string() + " > " + log_.string() + " 2>&1";
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // The URL line tells the port.
    std::regex url(R"(listening on http://127\.0\.0\.1:(\d+)/)");
    for (int i = 0; i < 600 && port_ == 0; ++i) {
      std::smatch m;
      const std::string text = read_bytes(log_);
      if (std::regex_search(text, m, url)) port_ = std::stoi(m[1]);
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (port_) {
      client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
      client_->set_read_timeout(30, 0);
    }
  }
  ~ServeProcess() { kill_now(SIGKILL); }

  int kill_now(int sig) {
    if (pid_ <= 0) return -1;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }
  int port() const { return port_; }
  std::string log() const { return read_bytes(log_); }
  httplib::Client& client() { return *client_; }

  nlohmann::json get(const std::string& path) {
    auto r = client_->Get(path.c_str());
    return r ? nlohmann::json::parse(r->body, nullptr, false) : nlohmann::json();
  }
  int64_t submit(const nlohmann::json& params) {
    httplib::MultipartFormDataItems items = {{"image", input_png(), "fox.png", "image/png"},
                                             {"params", params.dump(), "", ""}};
    auto r = client_->Post("/api/jobs", items);
    if (!r || r->status != 201) return 0;
    return nlohmann::json::parse(r->body).at("id");
  }
  // Polls the job until `done(job)` or the timeout; returns the last state.
  template <class Pred>
  nlohmann::json wait_for(int64_t id, Pred done, double timeout_s = 120) {
    auto t0 = std::chrono::steady_clock::now();
    nlohmann::json j;
    while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() <
           timeout_s) {
      j = get("/api/jobs/" + std::to_string(id));
      if (j.is_object() && done(j)) return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return j;
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

bool finished(const nlohmann::json& j) {
  return j.value("status", "") == "finished";
}

TEST(ServerRestart, AJobRunningWhenTheServerIsKilledIsRequeuedAndFinished) {
  TempDir tmp;
  nlohmann::json quick = small_params(1);
  nlohmann::json longer = small_params(10);
  int64_t first = 0, second = 0;
  nlohmann::json first_done;
  {
    ServeProcess serve(tmp.path(), "serve1.log");
    ASSERT_GT(serve.port(), 0) << serve.log();
    first = serve.submit(quick);
    ASSERT_GT(first, 0);
    first_done = serve.wait_for(first, finished);
    ASSERT_EQ(first_done.value("status", ""), "finished") << first_done.dump();
    second = serve.submit(longer);
    ASSERT_GT(second, 0);
    auto mid = serve.wait_for(second, [](const nlohmann::json& j) {
      return j.value("status", "") == "running" && j.value("step", 0) >= 2;
    });
    ASSERT_EQ(mid.value("status", ""), "running") << mid.dump();
    ASSERT_LT(mid.value("step", 0), 10) << "the job ended before the kill; make it longer";
    int status = serve.kill_now(SIGKILL);
    ASSERT_TRUE(WIFSIGNALED(status));
  }
  ServeProcess serve(tmp.path(), "serve2.log");
  ASSERT_GT(serve.port(), 0) << serve.log();
  auto done = serve.wait_for(second, finished);
  ASSERT_EQ(done.value("status", ""), "finished") << done.dump() << "\n" << serve.log();
  EXPECT_EQ(done.at("interrupted"), 1);
  EXPECT_EQ(done.at("attempts"), 2);
  EXPECT_EQ(done.at("step"), 10);
  EXPECT_NE(serve.log().find("was running when the server stopped"), std::string::npos);
  // Nothing finished was lost: the first job and its files are still there.
  auto again = serve.get("/api/jobs/" + std::to_string(first));
  EXPECT_EQ(again.value("status", ""), "finished");
  EXPECT_EQ(again.at("urls"), first_done.at("urls"));
  auto video = serve.client().Get(first_done["urls"]["video"].get<std::string>().c_str());
  ASSERT_TRUE(video);
  EXPECT_EQ(video->status, 200);
  EXPECT_NE(done.at("urls").at("video"), first_done.at("urls").at("video"));
  EXPECT_EQ(serve.get("/api/jobs").at("jobs").size(), 2u);
  // Logs went to logs/.
  bool has_log = false;
  for (const auto& e : fs::directory_iterator(tmp / "logs")) {
    has_log |= read_bytes(e.path()).find("job " + std::to_string(second) + ": finished") !=
               std::string::npos;
  }
  EXPECT_TRUE(has_log);
}

TEST(ServerRestart, SigtermStopsGracefullyAndTheJobResumesNextTime) {
  TempDir tmp;
  int64_t id = 0;
  {
    ServeProcess serve(tmp.path(), "serve1.log");
    ASSERT_GT(serve.port(), 0) << serve.log();
    id = serve.submit(small_params(6));
    auto mid = serve.wait_for(id, [](const nlohmann::json& j) { return j.value("step", 0) >= 1; });
    ASSERT_EQ(mid.value("status", ""), "running") << mid.dump();
    int status = serve.kill_now(SIGTERM);
    EXPECT_TRUE(WIFEXITED(status)) << serve.log();
    EXPECT_EQ(WEXITSTATUS(status), 0) << serve.log();
  }
  ServeProcess serve(tmp.path(), "serve2.log");
  ASSERT_GT(serve.port(), 0) << serve.log();
  auto done = serve.wait_for(id, finished);
  EXPECT_EQ(done.value("status", ""), "finished") << done.dump();
  EXPECT_EQ(done.at("interrupted"), 1);
}

}  // namespace
}  // namespace i2v::test
