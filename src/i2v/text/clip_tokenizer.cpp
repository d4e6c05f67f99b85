#include "i2v/text/clip_tokenizer.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "i2v/error.h"
#include "i2v/text/clip_pretokenizer.h"
#include "i2v/text/clip_text_normalizer.h"
#include "i2v/text/unicode.h"

namespace i2v::text {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// CLIPTokenizer reads at most 49152 - 256 - 2 merge lines (the size of the original CLIP BPE).
constexpr size_t kMaxMerges = 49152 - 256 - 2;
// transformers stores "no limit" as int(1e30); CLIP's text encoder has 77 positions.
constexpr int64_t kClipContextLength = 77;

json read_json_file(const fs::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open tokenizer " + what + " " + path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return json::parse(buffer.str());
  } catch (const json::exception& e) {
    throw FormatError("tokenizer " + what + " " + path.string() +
                      " is not valid JSON: " + e.what());
  }
}

// A special token entry is "<|endoftext|>" or {"content": "<|endoftext|>", ...} (AddedToken).
std::optional<std::string> token_content(const json& value, const fs::path& file,
                                         const std::string& key) {
  if (value.is_null()) return std::nullopt;
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string())
    return value["content"].get<std::string>();
  throw FormatError("tokenizer config " + file.string() + ": '" + key +
                    "' must be a string or an object with a string 'content'");
}

std::string python_strip(const std::string& s) {
  std::u32string u = decode_utf8(s);
  size_t b = 0, e = u.size();
  while (b < e && unicode::is_python_space(u[b])) ++b;
  while (e > b && unicode::is_python_space(u[e - 1])) --e;
  return encode_utf8(std::u32string_view(u).substr(b, e - b));
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
}

}  // namespace

ClipTokenizer ClipTokenizer::from_folder(const fs::path& folder) {
  if (!fs::is_directory(folder))
    throw IoError("tokenizer folder " + folder.string() + " does not exist");
  ClipTokenizer tok;

  const fs::path vocab_path = folder / "vocab.json";
  const json vocab = read_json_file(vocab_path, "vocabulary");
  if (!vocab.is_object() || vocab.empty())
    throw FormatError("tokenizer vocabulary " + vocab_path.string() +
                      " must be a non-empty JSON object {token: id}");
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer())
      throw FormatError("tokenizer vocabulary " + vocab_path.string() + ": the id of '" + token +
                        "' is not an integer");
    const auto value = id.get<int64_t>();
    tok.vocab_[token] = value;
    tok.id_to_vocab_[value] = token;  // json.load keeps the last duplicate, {v: k} too
  }

  tok.bpe_ = ByteLevelBpe::from_merges_file(folder / "merges.txt", kMaxMerges);

  // CLIPTokenizer's defaults, then tokenizer_config.json, then special_tokens_map.json (which
  // from_pretrained lets override the config).
  std::optional<std::string> bos = "<|startoftext|>", eos = "<|endoftext|>", pad = "<|endoftext|>",
                             unk = "<|endoftext|>";
  std::vector<std::string> additional;
  const auto read_specials = [&](const json& cfg, const fs::path& file) {
    const std::pair<const char*, std::optional<std::string>*> keys[] = {
        {"bos_token", &bos}, {"eos_token", &eos}, {"pad_token", &pad}, {"unk_token", &unk}};
    for (const auto& [key, slot] : keys)
      if (cfg.contains(key)) *slot = token_content(cfg[key], file, key);
    if (cfg.contains("additional_special_tokens") && cfg["additional_special_tokens"].is_array())
      for (const auto& t : cfg["additional_special_tokens"])
        if (auto c = token_content(t, file, "additional_special_tokens")) additional.push_back(*c);
  };

  const fs::path config_path = folder / "tokenizer_config.json";
  if (fs::exists(config_path)) {
    const json cfg = read_json_file(config_path, "config");
    if (!cfg.is_object())
      throw FormatError("tokenizer config " + config_path.string() + " must be a JSON object");
    if (cfg.contains("model_max_length")) {
      const json& m = cfg["model_max_length"];
      if (!m.is_number() || m.get<double>() < 2)
        throw FormatError("tokenizer config " + config_path.string() +
                          ": model_max_length must be a number >= 2");
      // Values like 1e30 mean "no limit" in transformers; CLIP's own limit is what applies.
      if (m.get<double>() < 1e9) tok.model_max_length_ = m.get<int64_t>();
    }
    if (cfg.contains("clean_up_tokenization_spaces") &&
        cfg["clean_up_tokenization_spaces"].is_boolean())
      tok.clean_up_tokenization_spaces_ = cfg["clean_up_tokenization_spaces"].get<bool>();
    if (cfg.contains("added_tokens_decoder")) {
      const json& added = cfg["added_tokens_decoder"];
      if (!added.is_object())
        throw FormatError("tokenizer config " + config_path.string() +
                          ": added_tokens_decoder must be an object {id: token}");
      for (const auto& [key, value] : added.items()) {
        int64_t id = 0;
        try {
          size_t used = 0;
          id = std::stoll(key, &used);
          if (used != key.size()) throw std::invalid_argument(key);
        } catch (const std::exception&) {
          throw FormatError("tokenizer config " + config_path.string() +
                            ": added_tokens_decoder key '" + key + "' is not an integer id");
        }
        const auto content = token_content(value, config_path, "added_tokens_decoder." + key);
        if (!content) continue;
        tok.added_[*content] = id;
        tok.id_to_added_[id] = *content;
      }
    }
    read_specials(cfg, config_path);
  } else {
    tok.model_max_length_ = kClipContextLength;
  }
  const fs::path map_path = folder / "special_tokens_map.json";
  if (fs::exists(map_path)) {
    const json map = read_json_file(map_path, "special tokens map");
    if (!map.is_object())
      throw FormatError("tokenizer special tokens map " + map_path.string() +
                        " must be a JSON object");
    read_specials(map, map_path);
  }

  // Special tokens become added tokens with their vocabulary id (transformers' _add_tokens).
  const auto resolve = [&](const std::optional<std::string>& token, const char* role) {
    if (!token)
      throw FormatError("tokenizer in " + folder.string() + " defines no " + role +
                        " (CLIP needs bos, eos, pad and unk tokens)");
    auto a = tok.added_.find(*token);
    if (a != tok.added_.end()) return a->second;
    auto v = tok.vocab_.find(*token);
    if (v == tok.vocab_.end())
      throw FormatError("tokenizer in " + folder.string() + ": the " + role + " '" + *token +
                        "' is neither in vocab.json nor in added_tokens_decoder");
    tok.added_[*token] = v->second;
    tok.id_to_added_[v->second] = *token;
    return v->second;
  };
  tok.unk_id_ = resolve(unk, "unk_token");
  tok.bos_id_ = resolve(bos, "bos_token");
  tok.eos_id_ = resolve(eos, "eos_token");
  tok.pad_id_ = resolve(pad, "pad_token");
  for (const auto& t : additional) resolve(t, "additional special token");
  tok.bos_ = *bos;
  tok.eos_ = *eos;
  tok.pad_ = *pad;
  tok.unk_ = *unk;

  for (const auto& [content, id] : tok.added_)
    if (!content.empty()) tok.added_by_length_.push_back(content);
  std::sort(tok.added_by_length_.begin(), tok.added_by_length_.end(),
            [](const std::string& a, const std::string& b) {
              return a.size() != b.size() ? a.size() > b.size() : a < b;
            });
  return tok;
}

std::vector<std::string> ClipTokenizer::tokenize_plain(const std::string& utf8_text) const {
  std::vector<std::string> tokens;
  for (const auto& piece : clip_pretokenize(normalize_clip_text(decode_utf8(utf8_text)))) {
    const std::string stand_ins = bytes_to_stand_ins(encode_utf8(piece));
    // CLIPTokenizer's BPE cache starts with these two, so they bypass BPE (all-ASCII, so their
    // stand-in form is the text itself).
    if (stand_ins == "<|startoftext|>" || stand_ins == "<|endoftext|>") {
      tokens.push_back(stand_ins);
      continue;
    }
    for (auto& symbol : bpe_->apply(stand_ins)) tokens.push_back(std::move(symbol));
  }
  return tokens;
}

std::vector<std::string> ClipTokenizer::tokenize(const std::string& text) const {
  // Split on literal added tokens (leftmost, then longest), case-sensitively, as
  // PreTrainedTokenizer.tokenize's trie does; the rest goes through _tokenize piecewise. The
  // split works on bytes: UTF-8 is self-synchronising and added tokens are valid UTF-8, so a
  // match can only start at a character boundary.
  std::vector<std::string> tokens;
  size_t segment_start = 0, pos = 0;
  const auto flush = [&](size_t end) {
    if (end > segment_start) {
      auto part = tokenize_plain(text.substr(segment_start, end - segment_start));
      tokens.insert(tokens.end(), part.begin(), part.end());
    }
  };
  while (pos < text.size()) {
    const std::string* match = nullptr;
    for (const auto& t : added_by_length_) {
      if (text.compare(pos, t.size(), t) == 0) {
        match = &t;
        break;
      }
    }
    if (!match) {
      ++pos;
      continue;
    }
    flush(pos);
    tokens.push_back(*match);
    pos += match->size();
    segment_start = pos;
  }
  flush(text.size());
  return tokens;
}

int64_t ClipTokenizer::token_to_id(const std::string& token) const {
  auto a = added_.find(token);
  if (a != added_.end()) return a->second;
  auto v = vocab_.find(token);
  return v != vocab_.end() ? v->second : unk_id_;
}

std::optional<std::string> ClipTokenizer::id_to_token(int64_t id) const {
  auto a = id_to_added_.find(id);
  if (a != id_to_added_.end()) return a->second;
  auto v = id_to_vocab_.find(id);
  if (v != id_to_vocab_.end()) return v->second;
  return std::nullopt;
}

std::vector<int64_t> ClipTokenizer::encode(const std::string& text) const {
  std::vector<int64_t> ids;
  for (const auto& t : tokenize(text)) ids.push_back(token_to_id(t));
  return ids;
}

TokenizedText ClipTokenizer::operator()(const std::string& text,
                                        const TokenizeOptions& options) const {
  const int64_t max_length = options.max_length.value_or(model_max_length_);
  if ((options.truncate || options.pad_to_max_length) && max_length < 2)
    throw ConfigError("tokenizer max_length must be at least 2 (BOS and EOS), got " +
                      std::to_string(max_length));
  std::vector<int64_t> ids = encode(text);
  // truncation=True on one sequence: drop ids from the end so that BOS + ids + EOS fits.
  TokenizedText out;
  if (options.truncate && static_cast<int64_t>(ids.size()) > max_length - 2) {
    out.truncated_tokens = static_cast<int64_t>(ids.size()) - (max_length - 2);
    ids.resize(static_cast<size_t>(max_length - 2));
  }
  out.input_ids.reserve(std::max<size_t>(ids.size() + 2, max_length));
  out.input_ids.push_back(bos_id_);
  out.input_ids.insert(out.input_ids.end(), ids.begin(), ids.end());
  out.input_ids.push_back(eos_id_);
  out.attention_mask.assign(out.input_ids.size(), 1);
  if (options.pad_to_max_length) {
    while (static_cast<int64_t>(out.input_ids.size()) < max_length) {
      out.input_ids.push_back(pad_id_);
      out.attention_mask.push_back(0);
    }
  }
  return out;
}

TokenizedBatch ClipTokenizer::batch(const std::vector<std::string>& texts,
                                    std::optional<int64_t> max_length, at::Device device) const {
  const int64_t length = max_length.value_or(model_max_length_);
  const auto n = static_cast<int64_t>(texts.size());
  at::Tensor ids = at::empty({n, length}, at::kLong);
  at::Tensor mask = at::empty({n, length}, at::kLong);
  auto ids_acc = ids.accessor<int64_t, 2>();
  auto mask_acc = mask.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    const TokenizedText t = (*this)(texts[i], {length, true, true});
    for (int64_t j = 0; j < length; ++j) {
      ids_acc[i][j] = t.input_ids[j];
      mask_acc[i][j] = t.attention_mask[j];
    }
  }
  return {ids.to(device), mask.to(device)};
}

at::Tensor ClipTokenizer::input_ids_tensor(const std::vector<std::string>& texts,
                                           at::Device device) const {
  return batch(texts, std::nullopt, device).input_ids;
}

bool ClipTokenizer::is_special_id(int64_t id) const {
  if (id == bos_id_ || id == eos_id_ || id == pad_id_ || id == unk_id_) return true;
  auto a = id_to_added_.find(id);
  return a != id_to_added_.end();  // special tokens and additional special tokens
}

std::string ClipTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens,
                                  std::optional<bool> clean_up_tokenization_spaces) const {
  std::string joined;
  for (int64_t id : ids) {
    if (skip_special_tokens && is_special_id(id)) continue;
    auto token = id_to_token(id);
    if (!token)
      throw ConfigError("cannot decode token id " + std::to_string(id) +
                        ": it is not in the vocabulary");
    joined += *token;
  }
  // Stand-in characters back to bytes; anything else (added tokens) stays as its UTF-8.
  std::string bytes;
  for (char32_t c : decode_utf8(joined)) {
    const int b = byte_from_stand_in(c);
    if (b >= 0) {
      bytes.push_back(static_cast<char>(b));
    } else {
      append_utf8(bytes, c);
    }
  }
  std::string text = encode_utf8(decode_utf8(bytes));  // errors="replace"
  replace_all(text, "</w>", " ");
  text = python_strip(text);
  if (clean_up_tokenization_spaces.value_or(clean_up_tokenization_spaces_)) {
    static const std::pair<const char*, const char*> kCleanups[] = {
        {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
        {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kCleanups) replace_all(text, from, to);
  }
  return text;
}

}  // namespace i2v::text
