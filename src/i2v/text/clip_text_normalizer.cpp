#include "i2v/text/clip_text_normalizer.h"

#include "i2v/text/unicode.h"

namespace i2v::text {
namespace {

// str.split() with no argument: runs of str.isspace() characters separate words.
std::vector<std::u32string> split_python_whitespace(std::u32string_view text) {
  std::vector<std::u32string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && unicode::is_python_space(text[i])) ++i;
    size_t j = i;
    while (j < text.size() && !unicode::is_python_space(text[j])) ++j;
    if (j > i) words.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return words;
}

}  // namespace

std::vector<std::u32string> basic_tokenize(std::u32string_view text) {
  // _clean_text and _tokenize_chinese_chars.
  std::u32string cleaned;
  cleaned.reserve(text.size());
  for (char32_t c : text) {
    if (c == 0 || c == 0xFFFD || unicode::is_bert_control(c)) continue;
    if (unicode::is_bert_whitespace(c)) {
      cleaned.push_back(U' ');
    } else if (unicode::is_cjk_ideograph(c)) {
      cleaned.push_back(U' ');
      cleaned.push_back(c);
      cleaned.push_back(U' ');
    } else {
      cleaned.push_back(c);
    }
  }
  std::vector<std::u32string> words = split_python_whitespace(nfc(cleaned));
  // Lower-casing is per word (it matters for the final-sigma rule). Lower-casing never creates
  // whitespace, so the final re-split of " ".join(words) is the identity.
  for (auto& w : words) w = python_lower(w);
  return words;
}

std::u32string normalize_clip_text(std::u32string_view text) {
  std::u32string out;
  for (const auto& w : basic_tokenize(text)) {
    if (!out.empty()) out.push_back(U' ');
    out += w;
  }
  return out;
}

}  // namespace i2v::text
