#include "i2v/text/unicode.h"

#include <algorithm>

#include "i2v/text/unicode_tables.h"

namespace i2v::text {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

bool in_ranges(const unicode::CodeRange* ranges, size_t n, char32_t c) {
  const unicode::CodeRange* end = ranges + n;
  // First range whose upper end is >= c.
  const unicode::CodeRange* it = std::lower_bound(
      ranges, end, c, [](const unicode::CodeRange& r, char32_t v) { return r.hi < v; });
  return it != end && it->lo <= c;
}

// Second-byte bounds of a well-formed sequence per lead byte (Unicode Table 3-7).
bool lead_info(unsigned char b, int* length, unsigned char* lo, unsigned char* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    *length = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    *length = 3;
    if (b == 0xE0) *lo = 0xA0;
    if (b == 0xED) *hi = 0x9F;  // no surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    *length = 4;
    if (b == 0xF0) *lo = 0x90;
    if (b == 0xF4) *hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return false;
  }
  return true;
}

// Hangul syllable composition constants (Unicode 3.12).
constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
              kSCount = kLCount * kNCount;

void decompose(char32_t c, std::u32string& out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    const int s = static_cast<int>(c - kSBase);
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  const auto* begin = unicode::decompositions;
  const auto* end = begin + unicode::decompositions_size;
  const auto* it = std::lower_bound(
      begin, end, c, [](const unicode::Decomposition& d, char32_t v) { return d.cp < v; });
  if (it == end || it->cp != c) {
    out.push_back(c);
    return;
  }
  decompose(it->first, out);
  if (it->second != 0) decompose(it->second, out);
}

// The primary composite of (a, b), or 0.
char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount)
    return a + (b - kTBase);
  const auto* begin = unicode::compositions;
  const auto* end = begin + unicode::compositions_size;
  const auto* it =
      std::lower_bound(begin, end, std::make_pair(a, b),
                       [](const unicode::Composition& x, std::pair<char32_t, char32_t> v) {
                         return x.first != v.first ? x.first < v.first : x.second < v.second;
                       });
  return (it != end && it->first == a && it->second == b) ? it->composite : 0;
}

bool is_cased(char32_t c) {
  return in_ranges(unicode::cased, unicode::cased_size, c);
}
bool is_case_ignorable(char32_t c) {
  return in_ranges(unicode::case_ignorable, unicode::case_ignorable_size, c);
}

// CPython's handle_capital_sigma: final iff a cased letter precedes (skipping case-ignorables)
// and none follows (skipping case-ignorables).
bool sigma_is_final(std::u32string_view text, size_t i) {
  size_t j = i;
  while (j > 0 && is_case_ignorable(text[j - 1])) --j;
  if (j == 0 || !is_cased(text[j - 1])) return false;
  size_t k = i + 1;
  while (k < text.size() && is_case_ignorable(text[k])) ++k;
  return k == text.size() || !is_cased(text[k]);
}

}  // namespace

void append_utf8(std::string& out, char32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = kReplacement;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) append_utf8(out, c);
  return out;
}

std::u32string decode_utf8(std::string_view bytes) {
  std::u32string out;
  out.reserve(bytes.size());
  size_t i = 0;
  const size_t n = bytes.size();
  while (i < n) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    int length = 0;
    unsigned char lo = 0, hi = 0;
    if (!lead_info(b, &length, &lo, &hi)) {
      out.push_back(kReplacement);  // stray continuation byte or invalid lead byte
      ++i;
      continue;
    }
    char32_t cp = b & (length == 2 ? 0x1F : length == 3 ? 0x0F : 0x07);
    size_t j = i + 1;
    bool ok = true;
    for (int k = 1; k < length; ++k, ++j) {
      const unsigned char lo_k = k == 1 ? lo : 0x80, hi_k = k == 1 ? hi : 0xBF;
      if (j >= n) {
        ok = false;
        break;
      }
      const auto c = static_cast<unsigned char>(bytes[j]);
      if (c < lo_k || c > hi_k) {
        ok = false;
        break;
      }
      cp = (cp << 6) | (c & 0x3F);
    }
    // A truncated or broken sequence is replaced as one unit (its maximal valid prefix); the
    // offending byte is looked at again as the start of the next sequence.
    out.push_back(ok ? cp : kReplacement);
    i = j;
  }
  return out;
}

namespace unicode {
bool is_bert_control(char32_t c) {
  return in_ranges(bert_control, bert_control_size, c);
}
bool is_bert_whitespace(char32_t c) {
  return in_ranges(bert_whitespace, bert_whitespace_size, c);
}
bool is_python_space(char32_t c) {
  return in_ranges(python_space, python_space_size, c);
}
bool is_letter(char32_t c) {
  return in_ranges(regex_letter, regex_letter_size, c);
}
bool is_number(char32_t c) {
  return in_ranges(regex_number, regex_number_size, c);
}
bool is_white_space(char32_t c) {
  return in_ranges(regex_space, regex_space_size, c);
}
bool is_regex_dropped(char32_t c) {
  return in_ranges(regex_dropped, regex_dropped_size, c);
}
bool is_cjk_ideograph(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}
int combining_class(char32_t c) {
  const auto* end = combining + combining_size;
  const auto* it = std::lower_bound(combining, end, c,
                                    [](const CombiningRange& r, char32_t v) { return r.hi < v; });
  return (it != end && it->lo <= c) ? it->ccc : 0;
}
}  // namespace unicode

std::u32string python_lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* begin = unicode::lower_single;
  const auto* end = begin + unicode::lower_single_size;
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c < 0x80) {
      out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    } else if (c == 0x3A3) {
      out.push_back(sigma_is_final(text, i) ? 0x3C2 : 0x3C3);
    } else if (c == 0x130) {
      out.push_back(0x69);
      out.push_back(0x307);
    } else {
      const auto* it = std::lower_bound(
          begin, end, c, [](const unicode::CaseMapping& m, char32_t v) { return m.from < v; });
      out.push_back(it != end && it->from == c ? it->to : c);
    }
  }
  return out;
}

std::u32string nfc(std::u32string_view text) {
  std::u32string d;
  d.reserve(text.size());
  for (char32_t c : text) decompose(c, d);
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < d.size();) {
    if (unicode::combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && unicode::combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j, [](char32_t a, char32_t b) {
      return unicode::combining_class(a) < unicode::combining_class(b);
    });
    i = j;
  }
  if (d.empty()) return d;
  // Canonical composition (UAX #15): compose each character with the last starter unless a
  // character of the same or higher class, or a starter, stands between them.
  size_t starter_pos = 0;
  char32_t starter = d[0];
  int last_class = unicode::combining_class(starter) == 0 ? 0 : 256;
  size_t out_pos = 1;
  for (size_t i = 1; i < d.size(); ++i) {
    const char32_t c = d[i];
    const int cls = unicode::combining_class(c);
    const char32_t composite = compose_pair(starter, c);
    if (composite != 0 && (last_class < cls || last_class == 0)) {
      d[starter_pos] = composite;
      starter = composite;
      continue;
    }
    if (cls == 0) {
      starter_pos = out_pos;
      starter = c;
    }
    last_class = cls;
    d[out_pos++] = c;
  }
  d.resize(out_pos);
  return d;
}

}  // namespace i2v::text
