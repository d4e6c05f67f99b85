// One test suite for both job stores (SQLite, and PostgreSQL on a real scratch server): jobs
// round-trip, claims take the oldest job that fits the worker, leases are renewed, cancelled,
// lost and expired, only the holder can finish a job and a finished result is never
// overwritten, concurrent claimers (separate connections) never share a job, workers and
// events are kept, and the schema is versioned.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "i2v/error.h"
#include "i2v/server/job_store.h"
#include "scratch_postgres.h"
#include "support/test_support.h"

namespace i2v::server {
namespace {
namespace fs = std::filesystem;

class JobStoreSuite : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    spec_ = GetParam() == "sqlite" ? (tmp_ / "jobs.sqlite").string()
                                   : test::ScratchPostgres::get().fresh_database();
    store_ = open();
  }
  // Another connection to the same database (as another process would have).
  std::unique_ptr<JobStore> open() { return open_job_store(spec_, {}); }

  static JobParams params(int steps, const std::string& prompt = "a fox") {
    JobParams p;
    p.prompt = prompt;
    p.steps = steps;
    p.loras = {{"style.safetensors", 0.5}};
    p.window = 16;
    return p;
  }
  Job add(const std::string& prompt = "a fox", JobNeeds needs = {}) {
    return store_->create(params(3, prompt), std::string("\x89PNG\0\1\2", 7), "in.png", "png",
                          needs);
  }
  static WorkerInfo worker(const std::string& id, const std::string& model = "tiny",
                           int64_t budget = 0) {
    return {id, "host", model, "cpu", budget};
  }

  test::TempDir tmp_;
  std::string spec_;
  std::unique_ptr<JobStore> store_;
};

TEST_P(JobStoreSuite, JobsRoundTripListCountAndRemove) {
  EXPECT_EQ(store_->schema_version(), kJobStoreSchemaVersion);
  EXPECT_EQ(store_->shared(), GetParam() == "postgresql");
  const Job a = add("first"), b = add("second"), c = add("third");
  EXPECT_LT(a.id, b.id);
  auto got = store_->get(b.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, JobStatus::Queued);
  EXPECT_EQ(got->params.prompt, "second");
  EXPECT_EQ(got->params.steps, 3);
  EXPECT_EQ(got->total_steps, 3);
  ASSERT_EQ(got->params.loras.size(), 1u);
  EXPECT_EQ(got->params.loras[0].scale, 0.5);
  EXPECT_EQ(got->params.window, 16);
  EXPECT_EQ(got->image_name, "in.png");
  EXPECT_GT(got->created_at, 1.7e9);
  EXPECT_EQ(store_->image(b.id), std::string("\x89PNG\0\1\2", 7));  // binary, with a zero byte
  auto all = store_->list(10);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].id, c.id);  // newest first
  EXPECT_EQ(store_->list(2).size(), 2u);
  EXPECT_EQ(store_->count(JobStatus::Queued), 3);
  EXPECT_TRUE(store_->mark_cancelled(a.id));
  EXPECT_FALSE(store_->mark_cancelled(a.id));  // already terminal
  EXPECT_EQ(store_->list(10, JobStatus::Cancelled).size(), 1u);
  EXPECT_EQ(store_->count(JobStatus::Queued), 2);
  EXPECT_TRUE(store_->remove(a.id));
  EXPECT_FALSE(store_->get(a.id));
  EXPECT_FALSE(store_->remove(a.id));
  EXPECT_EQ(store_->image(a.id), "");
}

TEST_P(JobStoreSuite, ClaimsTakeTheOldestJobThatFitsTheWorker) {
  const Job other_model = add("other", {"big-model", 0});
  const Job too_big = add("big", {"tiny", 8000});
  const Job fits = add("fits", {"tiny", 500});
  const Job any = add("any", {"", 0});
  const WorkerInfo w = worker("w1", "tiny", 1000);
  auto first = store_->claim(w, 30);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, fits.id);
  EXPECT_EQ(first->status, JobStatus::Running);
  EXPECT_EQ(first->worker, "w1");
  EXPECT_EQ(first->attempts, 1);
  auto second = store_->claim(w, 30);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, any.id);
  EXPECT_FALSE(store_->claim(w, 30));                     // the rest is not for it
  auto big = store_->claim(worker("w2", "tiny", 0), 30);  // no limit
  ASSERT_TRUE(big);
  EXPECT_EQ(big->id, too_big.id);
  auto other = store_->claim(worker("w3", "big-model", 0), 30);
  ASSERT_TRUE(other);
  EXPECT_EQ(other->id, other_model.id);
  EXPECT_EQ(store_->count(JobStatus::Running), 4);
  const auto attempts = store_->attempts(fits.id);
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].worker, "w1");
  EXPECT_EQ(attempts[0].outcome, "");
}

TEST_P(JobStoreSuite, OnlyTheHolderFinishesAndAFinishedResultIsNeverOverwritten) {
  const Job j = add();
  auto c = store_->claim(worker("a"), 30);
  ASSERT_TRUE(c);
  store_->set_progress(j.id, "a", 2);
  store_->set_progress(j.id, "b", 3);  // not its job: ignored
  EXPECT_EQ(store_->get(j.id)->step, 2);
  EXPECT_EQ(store_->renew(j.id, "a", 30), Lease::Held);
  EXPECT_EQ(store_->renew(j.id, "b", 30), Lease::Lost);
  EXPECT_FALSE(store_->mark_finished(j.id, "b", {{"video", "b.mp4"}}));
  EXPECT_FALSE(store_->mark_failed(j.id, "b", "no"));
  EXPECT_FALSE(store_->requeue(j.id, "b"));
  EXPECT_TRUE(store_->mark_finished(j.id, "a", {{"video", "a.mp4"}}));
  EXPECT_FALSE(store_->mark_finished(j.id, "a", {{"video", "again.mp4"}}));
  EXPECT_FALSE(store_->mark_failed(j.id, "a", "late"));
  const Job done = *store_->get(j.id);
  EXPECT_EQ(done.status, JobStatus::Finished);
  EXPECT_EQ(done.result.at("video"), "a.mp4");
  EXPECT_EQ(done.step, 3);
  EXPECT_EQ(store_->renew(j.id, "a", 30), Lease::Lost);
  EXPECT_FALSE(store_->mark_cancelled(j.id));
  const auto attempts = store_->attempts(j.id);
  ASSERT_EQ(attempts.size(), 1u);
  EXPECT_EQ(attempts[0].outcome, "finished");
  EXPECT_GE(attempts[0].ended_at, attempts[0].claimed_at);
}

TEST_P(JobStoreSuite, AnExpiredLeaseRequeuesTheJobForAnotherWorker) {
  const Job j = add();
  ASSERT_TRUE(store_->claim(worker("dead"), 0.2));
  EXPECT_TRUE(store_->requeue_expired().empty());  // not yet
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(store_->requeue_expired(), std::vector<int64_t>{j.id});
  Job q = *store_->get(j.id);
  EXPECT_EQ(q.status, JobStatus::Queued);
  EXPECT_EQ(q.interrupted, 1);
  EXPECT_EQ(store_->renew(j.id, "dead", 30), Lease::Lost);
  auto again = store_->claim(worker("alive"), 30);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->attempts, 2);
  // The dead worker comes back to life too late: nothing it says counts.
  EXPECT_FALSE(store_->mark_finished(j.id, "dead", {{"video", "dead.mp4"}}));
  EXPECT_TRUE(store_->mark_finished(j.id, "alive", {{"video", "alive.mp4"}}));
  EXPECT_EQ(store_->get(j.id)->result.at("video"), "alive.mp4");
  const auto attempts = store_->attempts(j.id);
  ASSERT_EQ(attempts.size(), 2u);
  EXPECT_EQ(attempts[0].outcome, "expired");
  EXPECT_EQ(attempts[1].outcome, "finished");
  EXPECT_LE(attempts[0].ended_at, attempts[1].claimed_at);  // never two at once
}

TEST_P(JobStoreSuite, CancelRequeueAndFailure) {
  const Job j = add(), k = add(), m = add();
  ASSERT_TRUE(store_->claim(worker("w"), 30));
  EXPECT_TRUE(store_->mark_cancelled(j.id));
  EXPECT_EQ(store_->renew(j.id, "w", 30), Lease::Cancelled);
  EXPECT_FALSE(store_->mark_finished(j.id, "w", {}));
  ASSERT_EQ(store_->claim(worker("w"), 30)->id, k.id);
  EXPECT_TRUE(store_->requeue(k.id, "w"));  // a graceful stop
  EXPECT_EQ(store_->get(k.id)->status, JobStatus::Queued);
  EXPECT_EQ(store_->get(k.id)->interrupted, 1);
  ASSERT_EQ(store_->claim(worker("v"), 30)->id, k.id);
  EXPECT_TRUE(store_->mark_failed(k.id, "v", "out of memory", {{"plan", "x"}}));
  const Job failed = *store_->get(k.id);
  EXPECT_EQ(failed.status, JobStatus::Failed);
  EXPECT_EQ(failed.error, "out of memory");
  EXPECT_EQ(failed.result.at("plan"), "x");
  ASSERT_EQ(store_->claim(worker("v"), 30)->id, m.id);
  EXPECT_EQ(store_->requeue_all_running(), std::vector<int64_t>{m.id});
  EXPECT_EQ(store_->get(m.id)->status, JobStatus::Queued);
  const auto a = store_->attempts(k.id);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].outcome, "requeued");
  EXPECT_EQ(a[1].outcome, "failed");
  EXPECT_EQ(store_->attempts(j.id).at(0).outcome, "cancelled");
}

TEST_P(JobStoreSuite, ConcurrentClaimersNeverShareAJob) {
  const int jobs = 40, claimers = 4;
  for (int i = 0; i < jobs; ++i) add("job " + std::to_string(i));
  std::atomic<int> finished{0};
  std::vector<std::vector<int64_t>> taken(claimers);
  std::vector<std::thread> threads;
  std::atomic<bool> failed{false};
  for (int t = 0; t < claimers; ++t) {
    threads.emplace_back([&, t] {
      try {
        auto own = open();  // its own connection, as a separate process would have
        const WorkerInfo w = worker("w" + std::to_string(t));
        while (auto j = own->claim(w, 30)) {
          taken[t].push_back(j->id);
          if (own->mark_finished(j->id, w.id, {{"by", w.id}})) ++finished;
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        failed = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_FALSE(failed);
  std::multiset<int64_t> all;
  for (const auto& v : taken) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(jobs));
  EXPECT_EQ(std::set<int64_t>(all.begin(), all.end()).size(), static_cast<size_t>(jobs));
  EXPECT_EQ(finished, jobs);
  for (const Job& j : store_->list(100)) {
    EXPECT_EQ(j.status, JobStatus::Finished);
    EXPECT_EQ(store_->attempts(j.id).size(), 1u);
    EXPECT_EQ(j.result.at("by"), j.worker);
  }
}

TEST_P(JobStoreSuite, WorkersAndEvents) {
  store_->heartbeat(worker("w1", "tiny", 123), 0);
  store_->heartbeat(worker("w2", "tiny", 0), 0);
  store_->heartbeat(worker("w1", "tiny", 123), 7);
  auto ws = store_->workers(60);
  ASSERT_EQ(ws.size(), 2u);
  EXPECT_EQ(ws[0].info.id, "w1");
  EXPECT_EQ(ws[0].info.memory_budget_bytes, 123);
  EXPECT_EQ(ws[0].job, 7);
  store_->remove_worker("w2");
  EXPECT_EQ(store_->workers(60).size(), 1u);

  const Job j = add(), k = add();
  const int64_t e1 = store_->append_event(j.id, "step", {{"step", 1}});
  const int64_t e2 = store_->append_event(k.id, "step", {{"step", 1}});
  const int64_t e3 = store_->append_event(j.id, "finished", {{"job", j.id}});
  EXPECT_LT(e1, e2);
  EXPECT_LT(e2, e3);
  auto after = store_->events_after(e1, 10);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].job, k.id);
  EXPECT_EQ(after[1].type, "finished");
  EXPECT_EQ(after[1].data.at("job"), j.id);
  EXPECT_EQ(store_->events_after(0, 1).size(), 1u);
  // Events of a job that ended long enough ago are pruned; a running job's stay.
  ASSERT_TRUE(store_->mark_cancelled(j.id));
  EXPECT_EQ(store_->prune_events(3600), 0);
  EXPECT_EQ(store_->prune_events(-1), 2);
  EXPECT_EQ(store_->events_after(0, 10).size(), 1u);
  store_->wait_for_news(std::chrono::milliseconds(10));  // returns
}

TEST_P(JobStoreSuite, ReopeningKeepsJobsAndRefusesANewerSchema) {
  const Job j = add();
  store_.reset();
  store_ = open();
  EXPECT_EQ(store_->schema_version(), kJobStoreSchemaVersion);
  ASSERT_TRUE(store_->get(j.id));
  // A database written by a newer i2v is refused with a clear error, not misread.
  if (GetParam() == "sqlite") {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(spec_.c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  } else {
    PGconn* c = PQconnectdb(spec_.c_str());
    PQclear(PQexec(c, "UPDATE schema_version SET version = 99"));
    PQfinish(c);
  }
  try {
    open();
    FAIL() << "a newer schema was accepted";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("newer than this i2v"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Engines, JobStoreSuite, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

// A database of the first release (the jobs table, no version) is migrated with its jobs.
TEST(SqliteJobStoreMigration, FirstReleaseDatabaseKeepsItsJobs) {
  test::TempDir tmp;
  const fs::path file = tmp / "old.sqlite";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  const char* v1 =
      "CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, status TEXT NOT NULL, params "
      "TEXT NOT NULL, image BLOB NOT NULL, image_name TEXT NOT NULL DEFAULT '', image_format "
      "TEXT NOT NULL DEFAULT '', created_at REAL NOT NULL DEFAULT 0, started_at REAL NOT NULL "
      "DEFAULT 0, finished_at REAL NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, "
      "interrupted INTEGER NOT NULL DEFAULT 0, step INTEGER NOT NULL DEFAULT 0, total_steps "
      "INTEGER NOT NULL DEFAULT 0, error TEXT NOT NULL DEFAULT '', result TEXT NOT NULL DEFAULT "
      "'{}');"
      "INSERT INTO jobs (status, params, image, result) VALUES ('finished', "
      "'{\"prompt\":\"old\",\"steps\":5}', x'00', '{\"video\":\"v.mp4\"}');"
      "INSERT INTO jobs (status, params, image) VALUES ('queued', '{\"prompt\":\"waiting\"}', "
      "x'00');";
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = open_job_store(file.string(), {});
  EXPECT_EQ(store->schema_version(), kJobStoreSchemaVersion);
  auto old = store->get(1);
  ASSERT_TRUE(old);
  EXPECT_EQ(old->params.prompt, "old");
  EXPECT_EQ(old->result.at("video"), "v.mp4");
  auto next = store->claim({"w", "h", "tiny", "cpu", 0}, 30);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->params.prompt, "waiting");
}

}  // namespace
}  // namespace i2v::server
