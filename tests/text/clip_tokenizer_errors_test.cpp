// Broken tokenizer folders fail with IoError / FormatError naming the file; odd but valid
// configurations (special tokens from special_tokens_map.json, added tokens) behave as in
// transformers.
#include <gtest/gtest.h>

#include <fstream>

#include "i2v/error.h"
#include "i2v/text/clip_tokenizer.h"
#include "support/test_support.h"

namespace i2v::text {
namespace {
namespace fs = std::filesystem;

void write(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

// A tiny valid folder: bytes "a", "b", "c" with end-of-word forms, one merge, two specials.
void write_small_tokenizer(const fs::path& dir) {
  write(dir / "vocab.json",
        R"({"a": 0, "b": 1, "c": 2, "a</w>": 3, "b</w>": 4, "c</w>": 5, "ab</w>": 6,)"
        R"( "<|startoftext|>": 7, "<|endoftext|>": 8})");
  write(dir / "merges.txt", "#version: 0.2\na b</w>\n");
}

template <typename E>
void expect_error_naming(const fs::path& dir, const std::string& fragment) {
  try {
    ClipTokenizer::from_folder(dir);
    FAIL() << "no error, expected one mentioning " << fragment;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(ClipTokenizerFiles, SmallFolderWorks) {
  test::TempDir dir;
  write_small_tokenizer(dir.path());
  const auto tok = ClipTokenizer::from_folder(dir.path());
  EXPECT_EQ(tok.bos_id(), 7);
  EXPECT_EQ(tok.eos_id(), 8);
  EXPECT_EQ(tok.encode("ab c"), (std::vector<int64_t>{6, 5}));
  EXPECT_EQ(tok.encode("abc"), (std::vector<int64_t>{0, 1, 5}));
  EXPECT_EQ(tok.encode("d"), (std::vector<int64_t>{8}));  // unknown -> unk (<|endoftext|>)
}

TEST(ClipTokenizerFiles, MissingFolderOrFiles) {
  test::TempDir dir;
  expect_error_naming<IoError>(dir.path() / "nope", "nope");
  expect_error_naming<IoError>(dir.path(), "vocab.json");
  write_small_tokenizer(dir.path());
  fs::remove(dir / "merges.txt");
  expect_error_naming<IoError>(dir.path(), "merges.txt");
}

TEST(ClipTokenizerFiles, CorruptVocabulary) {
  test::TempDir dir;
  write_small_tokenizer(dir.path());
  write(dir / "vocab.json", R"({"a": 0, "b": )");
  expect_error_naming<FormatError>(dir.path(), "vocab.json");
  write(dir / "vocab.json", R"(["a", "b"])");
  expect_error_naming<FormatError>(dir.path(), "vocab.json");
  write(dir / "vocab.json", R"({"a": "zero"})");
  expect_error_naming<FormatError>(dir.path(), "vocab.json");
  write(dir / "vocab.json", R"({"a": 0})");  // valid JSON, but no <|startoftext|>
  expect_error_naming<FormatError>(dir.path(), "is neither in vocab.json");
}

TEST(ClipTokenizerFiles, CorruptMerges) {
  test::TempDir dir;
  write_small_tokenizer(dir.path());
  write(dir / "merges.txt", "#version: 0.2\na b</w> c\n");
  expect_error_naming<FormatError>(dir.path(), "merges.txt, line 2");
  write(dir / "merges.txt", "");
  expect_error_naming<FormatError>(dir.path(), "merges.txt");
}

TEST(ClipTokenizerFiles, CorruptConfig) {
  test::TempDir dir;
  write_small_tokenizer(dir.path());
  write(dir / "tokenizer_config.json", "{not json");
  expect_error_naming<FormatError>(dir.path(), "tokenizer_config.json");
  write(dir / "tokenizer_config.json", R"({"model_max_length": "long"})");
  expect_error_naming<FormatError>(dir.path(), "model_max_length");
  write(dir / "tokenizer_config.json", R"({"bos_token": 5})");
  expect_error_naming<FormatError>(dir.path(), "bos_token");
  write(dir / "tokenizer_config.json", R"({"added_tokens_decoder": {"x": {"content": "a"}}})");
  expect_error_naming<FormatError>(dir.path(), "added_tokens_decoder");
}

TEST(ClipTokenizerFiles, SpecialTokensMapOverridesConfigAndSplitsLiterally) {
  test::TempDir dir;
  write_small_tokenizer(dir.path());
  write(dir / "tokenizer_config.json", R"({"model_max_length": 6, "pad_token": "<|endoftext|>"})");
  // As in SDXL's tokenizer_2: pad "!"-like token taken from the vocabulary ("c" here).
  write(dir / "special_tokens_map.json", R"({"pad_token": {"content": "c", "lstrip": false}})");
  const auto tok = ClipTokenizer::from_folder(dir.path());
  EXPECT_EQ(tok.pad_id(), 2);
  EXPECT_EQ(tok.model_max_length(), 6);
  EXPECT_EQ(tok("ab").input_ids, (std::vector<int64_t>{7, 6, 8, 2, 2, 2}));
  // A special token is cut out of the text before BPE, so "cab" is "c" + "ab".
  EXPECT_EQ(tok.encode("cab"), (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(tok.encode("ab<|endoftext|>ab"), (std::vector<int64_t>{6, 8, 6}));
}

}  // namespace
}  // namespace i2v::text
