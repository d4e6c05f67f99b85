// `i2v serve` and `i2v worker` as child processes (the binary under test), for the tests that
// kill them (SIGKILL, SIGTERM) and restart them.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <regex>

#include "server_fixture.h"

namespace i2v::test {

inline bool finished(const nlohmann::json& j) {
  return j.value("status", "") == "finished";
}

// A child process running `i2v --threads 1 <args>`, output to dir/log_name. Waits until its log
// matches `ready` (the first group, if any, is kept as ready_value()).
class ChildProcess {
 public:
  ChildProcess(const std::filesystem::path& dir, const std::string& log_name,
               const std::string& args, const std::string& ready) {
    log_ = dir / log_name;
    const std::string cmd =
        "exec " + i2v_binary().string() + " --threads 1 " + args + " > " + log_.string() + " 2>&1";
    pid_ = fork();
    if (pid_ == 0) {
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    std::regex re(ready);
    for (int i = 0; i < 1200 && !ready_; ++i) {
      std::smatch m;
      const std::string text = read_bytes(log_);
      if (std::regex_search(text, m, re)) {
        ready_ = true;
        if (m.size() > 1) ready_value_ = m[1];
      }
      if (!ready_ && waitpid(pid_, &exit_status_, WNOHANG) == pid_) {
        pid_ = -1;
        break;
      }
      if (!ready_) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~ChildProcess() { kill_now(SIGKILL); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  bool ready() const { return ready_; }
  const std::string& ready_value() const { return ready_value_; }
  bool running() {
    if (pid_ <= 0) return false;
    if (waitpid(pid_, &exit_status_, WNOHANG) == pid_) pid_ = -1;
    return pid_ > 0;
  }
  int kill_now(int sig) {
    if (pid_ <= 0) return exit_status_;
    kill(pid_, sig);
    waitpid(pid_, &exit_status_, 0);
    pid_ = -1;
    return exit_status_;
  }
  std::string log() const { return read_bytes(log_); }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
  int exit_status_ = -1;
  bool ready_ = false;
  std::string ready_value_;
};

// `i2v serve` in a child process on a free port; `extra` adds options (--jobs ...).
class ServeProcess {
 public:
  ServeProcess(const std::filesystem::path& dir, const std::string& log_name,
               const std::string& extra = "")
      : process_(dir, log_name,
                 "serve --precision fp32 --port 0 --model " + golden_pipeline().string() +
                     " --outputs " + (dir / "outputs").string() + " --logs " +
                     (dir / "logs").string() + " " + extra,
                 R"(listening on http://127\.0\.0\.1:(\d+)/)") {
    if (process_.ready()) {
      port_ = std::stoi(process_.ready_value());
      client_ = std::make_unique<httplib::Client>("127.0.0.1", port_);
      client_->set_read_timeout(30, 0);
    }
  }

  int kill_now(int sig) { return process_.kill_now(sig); }
  int port() const { return port_; }
  std::string log() const { return process_.log(); }
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
  ChildProcess process_;
  int port_ = 0;
  std::unique_ptr<httplib::Client> client_;
};

// `i2v worker` on the golden tiny pipeline, outputs into dir/outputs.
inline std::unique_ptr<ChildProcess> start_worker(const std::filesystem::path& dir,
                                                  const std::string& log_name,
                                                  const std::string& jobs_url,
                                                  const std::string& extra = "") {
  return std::make_unique<ChildProcess>(dir, log_name,
                                        "worker --precision fp32 --jobs " + jobs_url + " --model " +
                                            golden_pipeline().string() + " --outputs " +
                                            (dir / "outputs").string() + " " + extra,
                                        R"(i2v worker (\S+): )");
}

}  // namespace i2v::test
