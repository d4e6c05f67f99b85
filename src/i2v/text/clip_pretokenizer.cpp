#include "i2v/text/clip_pretokenizer.h"

#include "i2v/text/unicode.h"

namespace i2v::text {
namespace {

// A literal pattern character under IGNORECASE (simple case folding): 's' also matches U+017F
// LATIN SMALL LETTER LONG S, which str.lower() leaves alone.
bool matches_literal(char32_t c, char32_t lower_ascii) {
  if (c == lower_ascii) return true;
  if (lower_ascii >= U'a' && lower_ascii <= U'z' && c == lower_ascii - 32) return true;
  return lower_ascii == U's' && c == 0x17F;
}

size_t match_literal(std::u32string_view text, size_t pos, std::u32string_view literal) {
  if (text.size() - pos < literal.size()) return 0;
  for (size_t k = 0; k < literal.size(); ++k)
    if (!matches_literal(text[pos + k], literal[k])) return 0;
  return literal.size();
}

bool is_other(char32_t c) {
  return !unicode::is_white_space(c) && !unicode::is_letter(c) && !unicode::is_number(c) &&
         !unicode::is_regex_dropped(c);
}

}  // namespace

std::vector<std::u32string> clip_pretokenize(std::u32string_view text) {
  static constexpr std::u32string_view kLiterals[] = {
      U"<|startoftext|>", U"<|endoftext|>", U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};
  std::vector<std::u32string> pieces;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t len = 0;
    for (auto literal : kLiterals) {
      len = match_literal(text, pos, literal);
      if (len) break;
    }
    const char32_t c = text[pos];
    if (len == 0) {
      if (unicode::is_letter(c)) {
        len = 1;
        while (pos + len < text.size() && unicode::is_letter(text[pos + len])) ++len;
      } else if (unicode::is_number(c)) {
        len = 1;
      } else if (is_other(c)) {
        len = 1;
        while (pos + len < text.size() && is_other(text[pos + len])) ++len;
      } else {
        ++pos;  // whitespace (or U+0345): not part of any token
        continue;
      }
    }
    pieces.emplace_back(text.substr(pos, len));
    pos += len;
  }
  return pieces;
}

}  // namespace i2v::text
