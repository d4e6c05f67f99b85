// The server as a process: killed with SIGKILL in the middle of a job and started again, it
// re-queues that job (marked interrupted) and finishes it, and everything finished before is
// still listed and served. A SIGTERM stops it gracefully, putting the running job back.
#include "child_process.h"

namespace i2v::test {
namespace {
namespace fs = std::filesystem;

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
