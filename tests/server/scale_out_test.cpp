// Scale-out on a real PostgreSQL queue, all as processes: one `i2v serve --no-local-worker`
// front and three `i2v worker`s on the tiny model run 31 jobs; one worker is killed (SIGKILL)
// in the middle of a job, which then finishes on another worker once the lease runs out. Every
// job finishes exactly once and no two workers ever held the same job at once (checked in the
// database's attempts); the page's event stream follows jobs run elsewhere; a restarted front
// keeps the history and the queue.
#include <libpq-fe.h>

#include <map>
#include <set>

#include "child_process.h"
#include "scratch_postgres.h"

namespace i2v::test {
namespace {
namespace fs = std::filesystem;

// Rows of a query as strings (test-side reading of the database).
std::vector<std::vector<std::string>> query(const std::string& url, const std::string& sql) {
  PGconn* c = PQconnectdb(url.c_str());
  PGresult* r = PQexec(c, sql.c_str());
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < PQntuples(r); ++i) {
    rows.emplace_back();
    for (int k = 0; k < PQnfields(r); ++k) rows.back().push_back(PQgetvalue(r, i, k));
  }
  PQclear(r);
  PQfinish(c);
  return rows;
}

TEST(ScaleOut, ThreeWorkersRunEveryJobExactlyOnceThroughAKillAndAFrontRestart) {
  TempDir tmp;
  const std::string url = ScratchPostgres::get().fresh_database();
  const std::string shared = "--jobs " + url + " --lease-seconds 3";
  auto front =
      std::make_unique<ServeProcess>(tmp.path(), "front1.log", shared + " --no-local-worker");
  ASSERT_GT(front->port(), 0) << front->log();
  std::map<std::string, std::unique_ptr<ChildProcess>> workers;  // by worker id
  for (int i = 0; i < 3; ++i) {
    auto w =
        start_worker(tmp.path(), "worker" + std::to_string(i) + ".log", url, "--lease-seconds 3");
    ASSERT_TRUE(w->ready()) << w->log();
    workers[w->ready_value()] = std::move(w);
  }

  // One long job to kill its worker in the middle of, then 30 short ones.
  const int64_t long_job = front->submit(small_params(12));
  ASSERT_GT(long_job, 0);
  auto mid = front->wait_for(long_job, [](const nlohmann::json& j) {
    return j.value("status", "") == "running" && j.value("step", 0) >= 1;
  });
  ASSERT_EQ(mid.value("status", ""), "running") << mid.dump() << front->log();
  ASSERT_LT(mid.value("step", 0), 12) << "the job ended before the kill; make it longer";
  std::vector<int64_t> ids = {long_job};
  for (int i = 0; i < 30; ++i) {
    nlohmann::json p = small_params(1);
    p["seed"] = 100 + i;
    ids.push_back(front->submit(p));
    ASSERT_GT(ids.back(), 0);
  }
  const std::string victim = mid.value("worker", "");
  ASSERT_TRUE(workers.count(victim)) << "running on an unknown worker: " << victim;
  const int status = workers[victim]->kill_now(SIGKILL);
  ASSERT_TRUE(WIFSIGNALED(status));

  for (int64_t id : ids) {
    auto done = front->wait_for(id, finished, 240);
    ASSERT_EQ(done.value("status", ""), "finished") << done.dump() << front->log();
  }
  const auto killed = front->get("/api/jobs/" + std::to_string(long_job));
  EXPECT_EQ(killed.at("attempts"), 2);
  EXPECT_EQ(killed.at("interrupted"), 1);
  EXPECT_NE(killed.at("worker"), victim);
  EXPECT_EQ(killed.at("step"), 12);

  // The database's word: one finished attempt per job, attempts of a job never overlap, and
  // every finished job's files are in the shared outputs folder.
  const auto attempts =
      query(url,
            "SELECT job, number, worker, claimed_at, ended_at, outcome FROM attempts ORDER BY "
            "job, number");
  std::map<std::string, int> finished_per_job;
  std::set<std::string> finishers;
  for (size_t i = 0; i < attempts.size(); ++i) {
    const auto& a = attempts[i];
    if (a[5] == "finished") {
      ++finished_per_job[a[0]];
      finishers.insert(a[2]);
    }
    if (i > 0 && attempts[i - 1][0] == a[0]) {
      EXPECT_LE(std::stod(attempts[i - 1][4]), std::stod(a[3])) << "job " << a[0];
      EXPECT_NE(attempts[i - 1][4], "0");
    }
  }
  EXPECT_EQ(finished_per_job.size(), ids.size());
  for (const auto& [job, n] : finished_per_job) EXPECT_EQ(n, 1) << "job " << job;
  EXPECT_EQ(attempts.size(), ids.size() + 1);  // the killed attempt, expired
  EXPECT_GE(finishers.size(), 2u);
  EXPECT_EQ(query(url, "SELECT COUNT(*) FROM attempts WHERE outcome = 'expired'")[0][0], "1");
  for (int64_t id : ids) {
    const auto j = front->get("/api/jobs/" + std::to_string(id));
    EXPECT_TRUE(fs::exists(tmp / "outputs" / j["result"]["video"].get<std::string>())) << j;
  }

  // Stop the workers (gracefully), queue three jobs, kill the front, start another: the history
  // and the queue are intact, and a new worker runs the queued jobs.
  for (auto& [id, w] : workers) w->kill_now(SIGTERM);
  std::vector<int64_t> queued;
  for (int i = 0; i < 3; ++i) queued.push_back(front->submit(small_params(2)));
  front->kill_now(SIGKILL);
  front = std::make_unique<ServeProcess>(tmp.path(), "front2.log", shared + " --no-local-worker");
  ASSERT_GT(front->port(), 0) << front->log();
  const auto list = front->get("/api/jobs?limit=100");
  EXPECT_EQ(list.at("jobs").size(), ids.size() + 3);
  EXPECT_EQ(list.at("queue_length"), 3);
  // The page follows a job that a worker elsewhere runs: its events come through the database.
  std::string stream;
  std::thread follower([&] {
    httplib::Client c("127.0.0.1", front->port());
    c.set_read_timeout(60, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
    c.Get(("/api/jobs/" + std::to_string(queued[0]) + "/events").c_str(),
          [&](const char* data, size_t n) {
            stream.append(data, n);
            return stream.find("event: finished") == std::string::npos &&
                   std::chrono::steady_clock::now() < deadline;  // keep-alives come every 10 s
          });
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // subscribed while queued
  auto again = start_worker(tmp.path(), "worker-again.log", url, "--lease-seconds 3");
  follower.join();
  ASSERT_TRUE(again->ready()) << again->log();
  EXPECT_NE(stream.find("event: started"), std::string::npos) << stream.substr(0, 3000);
  EXPECT_NE(stream.find("event: step"), std::string::npos) << stream.substr(0, 3000);
  EXPECT_NE(stream.find("event: frame"), std::string::npos) << stream.substr(0, 3000);
  EXPECT_NE(stream.find("event: finished"), std::string::npos) << stream.substr(0, 3000);
  for (int64_t id : queued) {
    auto done = front->wait_for(id, finished, 120);
    EXPECT_EQ(done.value("status", ""), "finished") << done.dump();
    EXPECT_EQ(done.value("worker", ""), again->ready_value());
  }
  // Listed (seen in the last 60 s): the new worker, and the SIGKILLed victim only while its last
  // heartbeat is still inside that window (how long this test took after the kill); the
  // gracefully stopped workers are gone.
  const auto system = front->get("/api/system");
  bool new_worker_listed = false;
  for (const auto& w : system.at("workers")) {
    const std::string id = w.at("id");
    new_worker_listed = new_worker_listed || id == again->ready_value();
    EXPECT_TRUE(id == again->ready_value() || id == victim) << system.dump();
  }
  EXPECT_TRUE(new_worker_listed) << system.dump();
}

TEST(ScaleOut, AJobNoWorkerCanRunIsRefusedAtOnce) {
  TempDir tmp;
  const std::string url = ScratchPostgres::get().fresh_database();
  ServeProcess front(tmp.path(), "front.log", "--jobs " + url + " --no-local-worker");
  ASSERT_GT(front.port(), 0) << front.log();
  auto w = start_worker(tmp.path(), "worker.log", url, "--memory-budget-mb 1");
  ASSERT_TRUE(w->ready()) << w->log();
  for (int i = 0; i < 100 && front.get("/api/system").at("workers").empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  httplib::MultipartFormDataItems items = {{"image", input_png(), "fox.png", "image/png"},
                                           {"params", small_params(2).dump(), "", ""}};
  auto r = front.client().Post("/api/jobs", items);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
  EXPECT_NE(r->body.find("no worker can run this job"), std::string::npos) << r->body;
}

// The database restarts under a front and a worker, in the middle of a job: the job goes on and
// is recorded once the database is back (same attempt), both processes reconnect and go on (a
// request that met the broken connection fails once with a 5xx, as a client retries it).
TEST(ScaleOut, FrontAndWorkerOutliveADatabaseRestart) {
  TempDir tmp;
  const std::string url = ScratchPostgres::get().fresh_database();
  ServeProcess front(tmp.path(), "front.log", "--jobs " + url + " --no-local-worker");
  ASSERT_GT(front.port(), 0) << front.log();
  auto w = start_worker(tmp.path(), "worker.log", url);
  ASSERT_TRUE(w->ready()) << w->log();
  const int64_t during = front.submit(small_params(8));
  auto mid =
      front.wait_for(during, [](const nlohmann::json& j) { return j.value("step", 0) >= 1; });
  ASSERT_EQ(mid.value("status", ""), "running") << mid.dump();
  ASSERT_LT(mid.value("step", 0), 8) << "the job ended before the restart; make it longer";
  ScratchPostgres::get().restart();
  nlohmann::json done = nlohmann::json::object();
  for (int i = 0; i < 600 && done.value("status", "") != "finished"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    done = front.get("/api/jobs/" + std::to_string(during));
    if (!done.is_object()) done = nlohmann::json::object();  // an error while it reconnects
  }
  ASSERT_EQ(done.value("status", ""), "finished") << done.dump() << w->log();
  EXPECT_EQ(done.at("attempts"), 1) << w->log();
  EXPECT_EQ(done.at("interrupted"), 0);
  EXPECT_TRUE(fs::exists(tmp / "outputs" / done["result"]["video"].get<std::string>()));
  int64_t after = 0;
  for (int i = 0; i < 50 && after == 0; ++i) {
    after = front.submit(small_params(1));
    if (after == 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_GT(after, 0) << front.log();
  const auto next = front.wait_for(after, finished);
  EXPECT_EQ(next.value("status", ""), "finished") << next.dump() << w->log();
  EXPECT_TRUE(w->running());
  EXPECT_EQ(next.value("worker", ""), w->ready_value());
}

// Cancelling at the front a job that a worker elsewhere runs: the worker finds the lease
// cancelled at its next renewal, stops, records nothing, and goes on with the next job.
TEST(ScaleOut, CancellingAtTheFrontStopsTheRemoteWorker) {
  TempDir tmp;
  const std::string url = ScratchPostgres::get().fresh_database();
  ServeProcess front(tmp.path(), "front.log", "--jobs " + url + " --no-local-worker");
  ASSERT_GT(front.port(), 0) << front.log();
  auto w = start_worker(tmp.path(), "worker.log", url, "--lease-seconds 3");
  ASSERT_TRUE(w->ready()) << w->log();
  const int64_t id = front.submit(small_params(100));
  auto mid = front.wait_for(id, [](const nlohmann::json& j) { return j.value("step", 0) >= 1; });
  ASSERT_EQ(mid.value("status", ""), "running") << mid.dump();
  auto r = front.client().Delete(("/api/jobs/" + std::to_string(id)).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202) << r->body;
  const int64_t next = front.submit(small_params(1));
  const auto done = front.wait_for(next, finished, 60);
  EXPECT_EQ(done.value("status", ""), "finished") << done.dump() << w->log();
  const auto cancelled = front.get("/api/jobs/" + std::to_string(id));
  EXPECT_EQ(cancelled.at("status"), "cancelled");
  EXPECT_LT(cancelled.at("step").get<int>(), 100);  // it stopped, it did not run to the end
  EXPECT_TRUE(cancelled.at("result").empty());
  EXPECT_NE(w->log().find("job " + std::to_string(id) + ": cancelled"), std::string::npos)
      << w->log();
  EXPECT_EQ(query(url, "SELECT outcome FROM attempts WHERE job = " + std::to_string(id))[0][0],
            "cancelled");
}

}  // namespace
}  // namespace i2v::test
