// `i2v tokenize`: CLIP token ids of one or more texts as JSON, one array per text, so that any
// tokenizer case can be checked from the command line (against transformers' CLIPTokenizer).
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command_registry.h"
#include "i2v/error.h"
#include "i2v/text/clip_tokenizer.h"

namespace i2v::cli {
namespace {

namespace fs = std::filesystem;

struct TokenizeCliOptions {
  std::string tokenizer;
  std::vector<std::string> texts;
  bool raw = false;
  bool mask = false;
  bool tokens = false;
  int64_t max_length = 0;
};

// A tokenizer folder, or a pipeline folder whose tokenizer/ subfolder is meant.
fs::path tokenizer_folder(const fs::path& p) {
  if (!fs::exists(p / "vocab.json") && fs::exists(p / "tokenizer" / "vocab.json"))
    return p / "tokenizer";
  return p;
}

// One compact JSON array per line inside an outer array.
std::string rows_json(const std::vector<nlohmann::json>& rows, const std::string& indent) {
  std::string out = "[";
  for (size_t i = 0; i < rows.size(); ++i)
    out += (i ? ",\n" : "\n") + indent + "  " + rows[i].dump(-1, ' ', false);
  out += "\n" + indent + "]";
  return out;
}

int run_tokenize(const TokenizeCliOptions& o) {
  const auto tok = text::ClipTokenizer::from_folder(tokenizer_folder(o.tokenizer));
  text::TokenizeOptions options;
  if (o.max_length > 0) options.max_length = o.max_length;
  if (o.raw) options.pad_to_max_length = options.truncate = false;
  std::vector<nlohmann::json> ids, masks;
  for (const auto& t : o.texts) {
    if (o.tokens) {
      ids.emplace_back(tok.tokenize(t));
      continue;
    }
    const text::TokenizedText r = tok(t, options);
    ids.emplace_back(r.input_ids);
    masks.emplace_back(r.attention_mask);
  }
  if (o.mask && !o.tokens) {
    std::cout << "{\"input_ids\": " << rows_json(ids, "")
              << ",\n\"attention_mask\": " << rows_json(masks, "") << "}\n";
  } else {
    std::cout << rows_json(ids, "") << "\n";
  }
  return 0;
}

RegisterCommand reg(30, [](CLI::App& app, std::function<int()>& run) {
  auto opts = std::make_shared<TokenizeCliOptions>();
  auto* cmd = app.add_subcommand(
      "tokenize",
      "Print CLIP token ids of texts as JSON (one array per text), as the pipeline computes them: "
      "tokenizer(text, padding=\"max_length\", max_length=77, truncation=True)");
  cmd->add_option("--tokenizer", opts->tokenizer,
                  "Tokenizer folder (vocab.json, merges.txt, tokenizer_config.json, "
                  "special_tokens_map.json) or a pipeline folder with tokenizer/")
      ->required();
  cmd->add_option("texts", opts->texts, "Texts to tokenize (UTF-8)")->required();
  cmd->add_flag("--raw", opts->raw,
                "BOS + ids + EOS without truncation or padding (tokenizer(text).input_ids)");
  cmd->add_option("--max-length", opts->max_length,
                  "Truncate/pad to this length (default: the tokenizer's model_max_length)");
  cmd->add_flag("--mask", opts->mask, "Print {\"input_ids\": ..., \"attention_mask\": ...}");
  cmd->add_flag("--tokens", opts->tokens,
                "Print the BPE tokens (vocabulary strings) without BOS/EOS instead of ids");
  run = [opts] { return run_tokenize(*opts); };
});

}  // namespace
}  // namespace i2v::cli
