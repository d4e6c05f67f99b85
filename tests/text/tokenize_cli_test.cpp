// `i2v tokenize` prints the ids as JSON, one array per text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_support.h"

namespace i2v {
namespace {

std::string quote(const std::string& s) {
  return "'" + s + "'";
}

nlohmann::json run_json(const std::string& args) {
  std::string out;
  const int rc = test::run_command(test::i2v_binary().string() + " tokenize " + args, &out);
  EXPECT_EQ(rc, 0) << out;
  return nlohmann::json::parse(out);
}

TEST(TokenizeCli, PrintsPaddedIdsPerText) {
  const std::string dir =
      (test::shared_dir() / "data" / "i2vgen-xl-official-configs" / "tokenizer").string();
  const auto j = run_json("--tokenizer " + quote(dir) + " 'a photo of a cat' ''");
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 2u);
  ASSERT_EQ(j[0].size(), 77u);
  EXPECT_EQ(j[0][5], 2368);
  EXPECT_EQ(j[0][6], 49407);
  EXPECT_EQ(j[1][0], 49406);
  EXPECT_EQ(j[1][76], 49407);
}

TEST(TokenizeCli, RawMaskAndTokensModes) {
  const std::string dir =
      (test::shared_dir() / "data" / "i2vgen-xl-official-configs" / "tokenizer").string();
  auto raw = run_json("--tokenizer " + quote(dir) + " --raw 'a photo of a cat'");
  EXPECT_EQ(raw[0].get<std::vector<int64_t>>(),
            (std::vector<int64_t>{49406, 320, 1125, 539, 320, 2368, 49407}));
  auto masked = run_json("--tokenizer " + quote(dir) + " --mask --max-length 9 'a cat'");
  EXPECT_EQ(masked["input_ids"][0].get<std::vector<int64_t>>(),
            (std::vector<int64_t>{49406, 320, 2368, 49407, 49407, 49407, 49407, 49407, 49407}));
  EXPECT_EQ(masked["attention_mask"][0].get<std::vector<int64_t>>(),
            (std::vector<int64_t>{1, 1, 1, 1, 0, 0, 0, 0, 0}));
  auto tokens = run_json("--tokenizer " + quote(dir) + " --tokens 'a cat!'");
  EXPECT_EQ(tokens[0].get<std::vector<std::string>>(),
            (std::vector<std::string>{"a</w>", "cat</w>", "!</w>"}));
}

TEST(TokenizeCli, GoldenPromptFromPipelineFolder) {
  // A pipeline folder is accepted too (its tokenizer/ is used).
  const auto j = run_json("--tokenizer " + quote(test::golden_pipeline().string()) +
                          " --raw 'A red Fox jumping over the frozen lake at sunset, 4k photo!'");
  EXPECT_EQ(j[0].get<std::vector<int64_t>>(),
            (std::vector<int64_t>{768, 320, 585, 546, 761, 550, 514, 733, 581, 525, 587, 82, 569,
                                  267, 275, 330, 551, 256, 769}));
}

TEST(TokenizeCli, BadFolderFailsWithMessage) {
  std::string out;
  const int rc = test::run_command(
      test::i2v_binary().string() + " tokenize --tokenizer /nonexistent/tok 'x'", &out);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("/nonexistent/tok"), std::string::npos) << out;
}

}  // namespace
}  // namespace i2v
