// CLIP tokenizer: the ids of transformers 4.45's slow CLIPTokenizer (as I2VGenXLPipeline calls
// it) from a tokenizer folder (vocab.json, merges.txt, optional tokenizer_config.json and
// special_tokens_map.json).
//
// Text path, as the reference ran it (ftfy absent, see clip_text_normalizer.h):
//   1. the text is split on literal added/special tokens ("<|startoftext|>", "<|endoftext|>", and
//      the configured pad/unk/... tokens), case-sensitively; those become their ids directly;
//   2. every other piece: BasicTokenizer cleanup + lower-casing, CLIP's regex, byte-level BPE;
//      a BPE symbol missing from the vocabulary becomes the unk id;
//   3. BOS + ids + EOS; with truncation, ids are cut so that the total fits max_length (EOS
//      stays last); with padding, pad ids fill up to max_length (attention mask 0).
// Input strings are UTF-8; invalid bytes become U+FFFD, which the cleanup then drops (what Python
// would give for `bytes.decode("utf-8", errors="replace")`).
//
// Why the BasicTokenizer path and not ftfy: CLIPTokenizer uses ftfy.fix_text + whitespace_clean
// when ftfy is importable, else BasicTokenizer. The goldens were made without ftfy (golden
// README, deviation 2; the unit's metadata says so too), so that is the path reproduced here. For
// ordinary text both give the same ids; they differ on mojibake, HTML entities and some
// compatibility characters that ftfy would repair.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "i2v/text/byte_level_bpe.h"

namespace i2v::text {

struct TokenizedText {
  std::vector<int64_t> input_ids;
  std::vector<int64_t> attention_mask;  // 1 for real tokens (BOS/EOS included), 0 for padding
  int64_t truncated_tokens = 0;         // ids cut by truncation (the pipeline warns about them)
};

struct TokenizedBatch {
  at::Tensor input_ids;       // int64 (N, max_length)
  at::Tensor attention_mask;  // int64 (N, max_length)
};

struct TokenizeOptions {
  std::optional<int64_t> max_length;  // default: model_max_length
  bool pad_to_max_length = true;      // padding="max_length"
  bool truncate = true;               // truncation=True
};

class ClipTokenizer {
 public:
  // Loads a tokenizer folder. Missing or unreadable files throw IoError, malformed ones
  // FormatError; both name the file.
  static ClipTokenizer from_folder(const std::filesystem::path& folder);

  // The ids of the text without BOS/EOS (tokenizer.encode(text, add_special_tokens=False)).
  std::vector<int64_t> encode(const std::string& text) const;
  // The tokens (vocabulary strings) of the text without BOS/EOS (tokenizer.tokenize(text)).
  std::vector<std::string> tokenize(const std::string& text) const;

  // tokenizer(text, padding="max_length", max_length=..., truncation=True) by default.
  TokenizedText operator()(const std::string& text, const TokenizeOptions& options = {}) const;
  // The pipeline's call for a batch (padding to max_length and truncation), as tensors on `device`.
  TokenizedBatch batch(const std::vector<std::string>& texts,
                       std::optional<int64_t> max_length = std::nullopt,
                       at::Device device = at::kCPU) const;
  // batch(texts).input_ids: int64 (N, model_max_length).
  at::Tensor input_ids_tensor(const std::vector<std::string>& texts,
                              at::Device device = at::kCPU) const;

  // tokenizer.decode(ids, skip_special_tokens=..., clean_up_tokenization_spaces=...).
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = true,
                     std::optional<bool> clean_up_tokenization_spaces = std::nullopt) const;

  int64_t token_to_id(const std::string& token) const;  // unk id when unknown
  std::optional<std::string> id_to_token(int64_t id) const;

  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }
  int64_t unk_id() const { return unk_id_; }
  int64_t model_max_length() const { return model_max_length_; }
  size_t vocab_size() const { return vocab_.size(); }
  size_t num_merges() const { return bpe_->num_merges(); }

 private:
  ClipTokenizer() = default;
  std::vector<std::string> tokenize_plain(const std::string& text) const;
  bool is_special_id(int64_t id) const;

  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<int64_t, std::string> id_to_vocab_;
  std::unordered_map<std::string, int64_t> added_;  // added/special token -> id
  std::unordered_map<int64_t, std::string> id_to_added_;
  std::vector<std::string> added_by_length_;  // longest first, for the literal split
  std::shared_ptr<const ByteLevelBpe> bpe_;
  std::string bos_, eos_, pad_, unk_;
  int64_t bos_id_ = 0, eos_id_ = 0, pad_id_ = 0, unk_id_ = 0;
  int64_t model_max_length_ = 77;
  bool clean_up_tokenization_spaces_ = true;
};

}  // namespace i2v::text
