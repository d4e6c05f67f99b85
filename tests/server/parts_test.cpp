// The server's small parts on their own: base64, parameter defaults, output names that never
// collide, the servable-name rule, tokens, the event history.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "i2v/server/api_error.h"
#include "i2v/server/auth.h"
#include "i2v/server/base64.h"
#include "i2v/server/event_broadcaster.h"
#include "i2v/server/job_params.h"
#include "i2v/server/output_files.h"
#include "support/test_support.h"

namespace i2v::test {
namespace {
namespace fs = std::filesystem;

TEST(ServerParts, Base64RoundTripsEveryLengthAndRejectsJunk) {
  std::string bytes;
  for (int n = 0; n < 40; ++n) {
    auto back = server::base64_decode(server::base64_encode(bytes));
    ASSERT_TRUE(back) << n;
    EXPECT_EQ(*back, bytes) << n;
    bytes += static_cast<char>(n * 37 + 11);
  }
  EXPECT_EQ(server::base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(*server::base64_decode("Zm9v\nYmE="), "fooba");
  for (const char* bad : {"Zm9v!", "Z", "Zm9=v", "Zm==="}) {
    EXPECT_FALSE(server::base64_decode(bad)) << bad;
  }
}

TEST(ServerParts, ParametersTakeTheIssueDefaultsAndDrawASeed) {
  auto p = server::parse_job_params({{"prompt", "fox"}});
  EXPECT_EQ(p.resolution, "512p");
  EXPECT_EQ(p.width, 512);
  EXPECT_EQ(p.frames, 16);
  EXPECT_EQ(p.fps, 8);
  EXPECT_EQ(p.steps, 50);
  EXPECT_DOUBLE_EQ(p.guidance, 9.0);
  EXPECT_GE(p.seed, 0);  // drawn, so the job is reproducible from its record
  auto q = server::parse_job_params({{"prompt", "fox"}, {"resolution", "768p"}, {"seed", 5}});
  EXPECT_EQ(q.height, 768);
  EXPECT_EQ(q.seed, 5);
  EXPECT_THROW(server::parse_job_params({{"prompt", "fox"}, {"width", 64}}), server::ApiError);
  EXPECT_THROW(server::parse_job_params(
                   {{"prompt", "fox"}, {"width", 64}, {"height", 64}, {"resolution", "512p"}}),
               server::ApiError);
}

TEST(ServerParts, OutputNamesNeverCollide) {
  TempDir tmp;
  auto a = server::new_output_names(tmp.path());
  EXPECT_TRUE(
      std::regex_match(a.video.filename().string(), std::regex(R"(video_\d{8}_\d{6}\.mp4)")))
      << a.video;
  EXPECT_EQ(a.metadata.filename().string(), a.video.filename().string() + ".json");
  std::ofstream(a.video) << "x";
  auto b = server::new_output_names(tmp.path());
  EXPECT_NE(b.video, a.video);
  // Only the thumbnail of a third name exists: that name is skipped too.
  std::ofstream(b.video) << "x";
  auto c = server::new_output_names(tmp.path());
  std::ofstream(c.thumbnail) << "x";
  auto d = server::new_output_names(tmp.path());
  EXPECT_NE(d.video, c.video);
  EXPECT_FALSE(fs::exists(d.video));
}

TEST(ServerParts, OnlyPlainOutputNamesAreServable) {
  TempDir tmp;
  std::ofstream(tmp / "video_1.mp4") << "x";
  std::ofstream(tmp / "notes.txt") << "x";
  EXPECT_TRUE(server::servable_output(tmp.path(), "video_1.mp4"));
  for (const char* bad : {"notes.txt", "../video_1.mp4", "a/b.mp4", ".mp4", "", "missing.mp4",
                          "video_1.mp4/", "..", "x\\y.mp4"}) {
    EXPECT_FALSE(server::servable_output(tmp.path(), bad)) << bad;
  }
}

TEST(ServerParts, TokensCompareExactly) {
  EXPECT_TRUE(server::token_matches("abc", "abc"));
  EXPECT_FALSE(server::token_matches("abd", "abc"));
  EXPECT_FALSE(server::token_matches("ab", "abc"));
  EXPECT_FALSE(server::token_matches("abcd", "abc"));
  EXPECT_EQ(server::presented_token("Bearer t1", "t2"), "t1");
  EXPECT_EQ(server::presented_token("", "t2"), "t2");
  EXPECT_TRUE(server::is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(server::is_loopback_host("::1"));
  EXPECT_FALSE(server::is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(server::is_loopback_host("192.168.1.2"));
  TempDir tmp;
  std::ofstream(tmp / "token") << "  s3cret \n second line\n";
  EXPECT_EQ(server::read_token_file((tmp / "token").string()), "s3cret");
  std::ofstream(tmp / "empty") << "\n";
  EXPECT_THROW(server::read_token_file((tmp / "empty").string()), ConfigError);
}

TEST(ServerParts, EventHistoryKeepsOnlyTheNewestPreview) {
  server::EventBroadcaster events;
  events.publish(1, "started", {});
  events.publish(1, "preview", {{"step", 1}});
  events.publish(1, "step", {{"step", 1}});
  events.publish(1, "preview", {{"step", 2}});
  events.publish(2, "started", {});
  auto all = events.wait(1, 0, std::chrono::milliseconds(0));
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].type, "preview");
  EXPECT_EQ(all[2].data.at("step"), 2);
  auto later = events.wait(1, all[1].seq, std::chrono::milliseconds(0));
  EXPECT_EQ(later.size(), 1u);
  auto none = events.wait(1, all[2].seq, std::chrono::milliseconds(30));
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(server::format_sse(all[0]).rfind("event: started\nid: ", 0), 0u);
}

}  // namespace
}  // namespace i2v::test
