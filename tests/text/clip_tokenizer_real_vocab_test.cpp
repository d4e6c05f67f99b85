// The real CLIP vocabulary (laion / I2VGen-XL tokenizer, 49408 tokens, 48894 merges): the
// reference cases of tests/data/text/clip_real_vocab_cases.json (several languages, emoji,
// special tokens, empty and long prompts; made by tools/make_clip_tokenizer_cases.py), the
// well-known CLIP encoding of "a photo of a cat", and structural properties.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "i2v/error.h"
#include "i2v/text/clip_pretokenizer.h"
#include "i2v/text/clip_text_normalizer.h"
#include "i2v/text/clip_tokenizer.h"
#include "i2v/text/unicode.h"
#include "support/test_support.h"

namespace i2v::text {
namespace {

std::filesystem::path official_tokenizer() {
  return test::shared_dir() / "data" / "i2vgen-xl-official-configs" / "tokenizer";
}

class RealVocab : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tokenizer_ = new ClipTokenizer(ClipTokenizer::from_folder(official_tokenizer()));
  }
  static void TearDownTestSuite() { delete tokenizer_; }
  static const ClipTokenizer& tok() { return *tokenizer_; }
  static ClipTokenizer* tokenizer_;
};
ClipTokenizer* RealVocab::tokenizer_ = nullptr;

TEST_F(RealVocab, Config) {
  EXPECT_EQ(tok().vocab_size(), 49408u);
  EXPECT_EQ(tok().num_merges(), 48894u);
  EXPECT_EQ(tok().bos_id(), 49406);
  EXPECT_EQ(tok().eos_id(), 49407);
  EXPECT_EQ(tok().pad_id(), 49407);  // "<|endoftext|>" in the I2VGen-XL config, not "!" (0)
  EXPECT_EQ(tok().unk_id(), 49407);
  EXPECT_EQ(tok().model_max_length(), 77);
}

TEST_F(RealVocab, WellKnownClipEncoding) {
  EXPECT_EQ(tok()("a photo of a cat", {std::nullopt, false, false}).input_ids,
            (std::vector<int64_t>{49406, 320, 1125, 539, 320, 2368, 49407}));
  EXPECT_EQ(tok().encode("A PHOTO   of a\tCat"), (std::vector<int64_t>{320, 1125, 539, 320, 2368}));
}

TEST_F(RealVocab, ReferenceCases) {
  std::ifstream in(test::test_data_dir() / "text" / "clip_real_vocab_cases.json");
  ASSERT_TRUE(in) << "missing tests/data/text/clip_real_vocab_cases.json";
  const auto doc = nlohmann::json::parse(in);
  ASSERT_GE(doc.at("cases").size(), 25u);
  for (const auto& c : doc.at("cases")) {
    const std::string name = c.at("name");
    const std::string text = c.at("text");
    SCOPED_TRACE("case " + name);
    EXPECT_EQ(tok().tokenize(text), c.at("tokens").get<std::vector<std::string>>());
    EXPECT_EQ(tok()(text, {std::nullopt, false, false}).input_ids,
              c.at("ids").get<std::vector<int64_t>>());
    const TokenizedText t = tok()(text);
    EXPECT_EQ(t.input_ids, c.at("input_ids").get<std::vector<int64_t>>());
    EXPECT_EQ(t.attention_mask, c.at("attention_mask").get<std::vector<int64_t>>());
  }
}

TEST_F(RealVocab, EmptyPromptIsBosEosThenPadding) {
  for (const std::string text : {"", "   ", "\t\n\u3000", "\u200b\u200d"}) {
    const TokenizedText t = tok()(text);
    ASSERT_EQ(t.input_ids.size(), 77u);
    EXPECT_EQ(t.input_ids[0], 49406);
    EXPECT_EQ(t.input_ids[1], 49407);
    for (size_t i = 2; i < 77; ++i) EXPECT_EQ(t.input_ids[i], 49407);
    EXPECT_EQ(t.attention_mask[0], 1);
    EXPECT_EQ(t.attention_mask[1], 1);
    EXPECT_EQ(std::count(t.attention_mask.begin(), t.attention_mask.end(), 1), 2);
  }
}

TEST_F(RealVocab, TruncationKeepsBosPrefixAndEos) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "snowy mountain village at dawn, ";
  const auto body = tok().encode(text);
  ASSERT_GT(body.size(), 200u);
  const TokenizedText t = tok()(text);
  ASSERT_EQ(t.input_ids.size(), 77u);
  EXPECT_EQ(t.input_ids.front(), 49406);
  EXPECT_EQ(t.input_ids.back(), 49407);
  EXPECT_TRUE(std::equal(body.begin(), body.begin() + 75, t.input_ids.begin() + 1));
  EXPECT_EQ(std::count(t.attention_mask.begin(), t.attention_mask.end(), 1), 77);
  EXPECT_EQ(t.truncated_tokens, static_cast<int64_t>(body.size()) - 75);
  EXPECT_EQ(tok()("a cat").truncated_tokens, 0);
  // Exactly 75 body tokens fit; 76 are cut to 75.
  const TokenizedText short_len = tok()(text, {10, true, true});
  EXPECT_EQ(short_len.input_ids.size(), 10u);
  EXPECT_EQ(short_len.input_ids.back(), 49407);
  // No truncation: everything stays, no padding.
  const TokenizedText raw = tok()(text, {std::nullopt, true, false});
  EXPECT_EQ(raw.input_ids.size(), body.size() + 2);
  EXPECT_THROW(tok()(text, {1, true, true}), ConfigError);
}

TEST_F(RealVocab, DecodeRoundTripsNormalisedText) {
  // Without unknown tokens, byte-level BPE is lossless: decoding gives the normalised text with
  // one space after each pre-token.
  const std::vector<std::string> texts = {"Ein Hund läuft über die Straße",
                                          "Кошка сидит на окне",
                                          "قطة على الشاطئ",
                                          "一只猫在海滩上",
                                          "東京の夜景、ネオンが輝く",
                                          "해변의 고양이",
                                          "a cat 🐱 on the beach 🏖️ 👍🏽",
                                          "ΟΔΟΣ ΣΟΦΙΑΣ",
                                          "समुद्र तट पर बिल्ली",
                                          "cafe\u0301 a\u0345b"};
  for (const auto& text : texts) {
    SCOPED_TRACE(text);
    std::u32string expected;
    for (const auto& piece : clip_pretokenize(normalize_clip_text(decode_utf8(text)))) {
      if (!expected.empty()) expected += U' ';
      expected += piece;
    }
    const auto ids = tok().encode(text);
    EXPECT_EQ(std::count(ids.begin(), ids.end(), tok().unk_id()), 0);
    EXPECT_EQ(tok().decode(ids, true, false), encode_utf8(expected));
  }
  // Simple text comes back as the lower-cased text (with transformers' space clean-up).
  EXPECT_EQ(tok().decode(tok()("A red Fox, at sunset!").input_ids), "a red fox, at sunset!");
  EXPECT_EQ(
      tok().decode(tok()("a cat").input_ids, false), "<|startoftext|>a cat <|endoftext|>" + [] {
        std::string s;
        for (int i = 0; i < 73; ++i) s += "<|endoftext|>";
        return s;
      }());
  EXPECT_THROW(tok().decode({123456}), ConfigError);
}

TEST_F(RealVocab, EquivalentSpellingsGiveTheSameIds) {
  EXPECT_EQ(tok().encode("cafe\u0301"), tok().encode("caf\u00e9"));        // NFC
  EXPECT_EQ(tok().encode("CAFÉ"), tok().encode("café"));                   // lower-casing
  EXPECT_EQ(tok().encode("a\u00a0b\u2003c"), tok().encode("a b c"));       // Zs -> space
  EXPECT_EQ(tok().encode("\u65e5\u672c"), tok().encode("\u65e5 \u672c"));  // CJK spacing
}

TEST_F(RealVocab, InvalidUtf8IsReplacedAndDroppedNotFatal) {
  // U+FFFD (what Python's errors="replace" gives) is removed by the BasicTokenizer cleanup.
  EXPECT_EQ(tok().encode("caf\xC3"), tok().encode("caf"));
  EXPECT_EQ(tok().encode("a\xFF"
                         "b"),
            tok().encode("ab"));
  EXPECT_EQ(tok().encode("\xED\xA0\x80 cat \xC0\x80"), tok().encode("cat"));
  EXPECT_EQ(tok().encode(std::string("a\0b", 3)), tok().encode("ab"));  // NUL is dropped too
}

TEST_F(RealVocab, TensorForThePipeline) {
  const at::Tensor ids = tok().input_ids_tensor({"", "a photo of a cat"});
  EXPECT_EQ(ids.scalar_type(), at::kLong);
  EXPECT_EQ(ids.sizes(), (std::vector<int64_t>{2, 77}));
  EXPECT_EQ(ids[1][5].item<int64_t>(), 2368);
  EXPECT_EQ(ids[0][1].item<int64_t>(), 49407);
  const TokenizedBatch b = tok().batch({"a photo of a cat", ""}, 8);
  EXPECT_EQ(b.input_ids.sizes(), (std::vector<int64_t>{2, 8}));
  EXPECT_TRUE(at::equal(
      b.attention_mask,
      at::tensor({1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 0}, at::kLong).view({2, 8})));
  EXPECT_EQ(b.input_ids[0][7].item<int64_t>(), 49407);
}

TEST(ClipBpeFolder, VocabAndMergesOnlyUseClipDefaults) {
  const auto tok = ClipTokenizer::from_folder(test::shared_dir() / "data" / "clip-bpe");
  EXPECT_EQ(tok.bos_id(), 49406);
  EXPECT_EQ(tok.eos_id(), 49407);
  EXPECT_EQ(tok.pad_id(), 49407);
  EXPECT_EQ(tok.model_max_length(), 77);
  EXPECT_EQ(tok("a photo of a cat").input_ids[5], 2368);
}

}  // namespace
}  // namespace i2v::text
