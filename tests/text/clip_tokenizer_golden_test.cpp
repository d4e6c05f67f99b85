// The golden tokenizer unit (transformers 4.45 slow CLIPTokenizer on the tiny vocabulary): every
// case's ids, padded ids and BPE tokens must match exactly; the pipeline run's prompt ids too.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "i2v/io/safetensors.h"
#include "i2v/text/clip_tokenizer.h"
#include "support/test_support.h"

namespace i2v::text {
namespace {

std::vector<int64_t> to_vector(const at::Tensor& t) {
  at::Tensor c = t.to(at::kLong).contiguous().view({-1});
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

class GoldenTokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tokenizer_ =
        new ClipTokenizer(ClipTokenizer::from_folder(test::golden_pipeline() / "tokenizer"));
    file_ = io::SafetensorsFile::open(test::golden_dir() / "golden" / "units" /
                                      "tokenizer.safetensors");
    meta_ = nlohmann::json::parse(file_->metadata().at("golden_meta"));
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    file_.reset();
  }
  static ClipTokenizer* tokenizer_;
  static std::shared_ptr<const io::SafetensorsFile> file_;
  static nlohmann::json meta_;
};
ClipTokenizer* GoldenTokenizer::tokenizer_ = nullptr;
std::shared_ptr<const io::SafetensorsFile> GoldenTokenizer::file_;
nlohmann::json GoldenTokenizer::meta_;

TEST_F(GoldenTokenizer, ConfigMatchesTheTinyTokenizer) {
  EXPECT_EQ(tokenizer_->vocab_size(), 770u);
  EXPECT_EQ(tokenizer_->num_merges(), 256u);
  EXPECT_EQ(tokenizer_->bos_id(), 768);
  EXPECT_EQ(tokenizer_->eos_id(), 769);
  EXPECT_EQ(tokenizer_->pad_id(), 769);  // pad = eos in this config
  EXPECT_EQ(tokenizer_->unk_id(), 769);
  EXPECT_EQ(tokenizer_->model_max_length(), 77);
}

TEST_F(GoldenTokenizer, EveryCaseMatchesIdsPaddedIdsAndTokens) {
  const auto& cases = meta_.at("cases");
  ASSERT_EQ(cases.size(), 8u);
  for (const auto& [name, text_json] : cases.items()) {
    SCOPED_TRACE("case " + name);
    const std::string text = text_json.get<std::string>();
    const auto expected_ids = to_vector(file_->tensor("case." + name + ".ids"));
    const auto expected_padded = to_vector(file_->tensor("case." + name + ".ids_padded"));

    const TokenizedText raw = (*tokenizer_)(text, {std::nullopt, false, false});
    EXPECT_EQ(raw.input_ids, expected_ids);
    const TokenizedText padded = (*tokenizer_)(text);
    EXPECT_EQ(padded.input_ids, expected_padded);
    // Mask: 1 up to and including EOS, 0 on padding.
    const size_t real = std::min<size_t>(expected_ids.size(), 77);
    ASSERT_EQ(padded.attention_mask.size(), 77u);
    for (size_t i = 0; i < 77; ++i) EXPECT_EQ(padded.attention_mask[i], i < real ? 1 : 0) << i;

    // Tokens in the metadata include BOS/EOS.
    auto tokens = meta_.at("tokens." + name).get<std::vector<std::string>>();
    ASSERT_GE(tokens.size(), 2u);
    tokens = std::vector<std::string>(tokens.begin() + 1, tokens.end() - 1);
    EXPECT_EQ(tokenizer_->tokenize(text), tokens);
  }
}

TEST_F(GoldenTokenizer, LongCaseIsTruncatedKeepingEos) {
  const TokenizedText t = (*tokenizer_)(meta_.at("cases").at("long").get<std::string>());
  ASSERT_EQ(t.input_ids.size(), 77u);
  EXPECT_EQ(t.input_ids.front(), 768);
  EXPECT_EQ(t.input_ids.back(), 769);
  EXPECT_EQ(std::count(t.attention_mask.begin(), t.attention_mask.end(), 1), 77);
}

TEST_F(GoldenTokenizer, PipelineRunPromptIds) {
  auto run = io::SafetensorsFile::open(test::golden_dir() / "golden" / "pipeline_run.safetensors");
  const at::Tensor ids =
      tokenizer_->input_ids_tensor({"A red Fox jumping over the frozen lake at sunset, 4k photo!"});
  EXPECT_EQ(ids.scalar_type(), at::kLong);
  EXPECT_EQ(ids.sizes(), (std::vector<int64_t>{1, 77}));
  EXPECT_TRUE(at::equal(ids, run->tensor("prompt_input_ids").to(at::kLong)));
  const at::Tensor neg = tokenizer_->input_ids_tensor({"blurry, distorted, low quality"});
  EXPECT_TRUE(at::equal(neg, run->tensor("negative_input_ids").to(at::kLong)));
}

}  // namespace
}  // namespace i2v::text
