#include "i2v/text/byte_level_bpe.h"

#include <climits>
#include <fstream>
#include <sstream>

#include "i2v/error.h"
#include "i2v/text/unicode.h"

namespace i2v::text {
namespace {

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
// (controls, space, 0x7F-0xA0, 0xAD) are mapped to U+0100 onwards in byte order.
std::array<char32_t, 256> make_stand_ins() {
  std::array<char32_t, 256> cps{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    cps[b] = printable ? static_cast<char32_t>(b) : next++;
  }
  return cps;
}

const std::array<char32_t, 256>& stand_in_code_points() {
  static const std::array<char32_t, 256> cps = make_stand_ins();
  return cps;
}

constexpr std::string_view kEndOfWord = "</w>";

// Splits a stand-in string into its characters (each a UTF-8 substring).
std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace

const std::array<std::string, 256>& byte_encoder() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    for (int b = 0; b < 256; ++b) append_utf8(t[b], stand_in_code_points()[b]);
    return t;
  }();
  return table;
}

int byte_from_stand_in(char32_t cp) {
  if (cp < 0x100) {
    const bool printable = (cp >= '!' && cp <= '~') || (cp >= 0xA1 && cp <= 0xAC) || cp >= 0xAE;
    return printable ? static_cast<int>(cp) : -1;
  }
  const auto& cps = stand_in_code_points();
  for (int b = 0; b < 256; ++b)
    if (cps[b] == cp) return b;
  return -1;
}

std::string bytes_to_stand_ins(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  const auto& table = byte_encoder();
  for (char c : bytes) out += table[static_cast<unsigned char>(c)];
  return out;
}

ByteLevelBpe::ByteLevelBpe(std::vector<std::pair<std::string, std::string>> merges) {
  ranks_.reserve(merges.size());
  // A repeated pair keeps its last rank, as dict(zip(merges, range(n))) does.
  for (size_t i = 0; i < merges.size(); ++i)
    ranks_[merges[i].first + ' ' + merges[i].second] = static_cast<int>(i);
}

std::shared_ptr<const ByteLevelBpe> ByteLevelBpe::from_merges_file(
    const std::filesystem::path& path, size_t max_merges) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open BPE merges file " + path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw IoError("cannot read BPE merges file " + path.string());
  std::string text = buffer.str();
  // Python: read().strip().split("\n")[1 : 1 + max_merges]
  const auto is_ws = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  };
  size_t begin = 0, end = text.size();
  while (begin < end && is_ws(text[begin])) ++begin;
  while (end > begin && is_ws(text[end - 1])) --end;
  std::vector<std::pair<std::string, std::string>> merges;
  size_t line_no = 0;
  for (size_t pos = begin; pos < end && merges.size() < max_merges;) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos || nl > end) nl = end;
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line_no == 1) continue;  // "#version: 0.2"
    std::istringstream fields(line);
    std::string first, second, extra;
    if (!(fields >> first >> second) || (fields >> extra))
      throw FormatError("BPE merges file " + path.string() + ", line " + std::to_string(line_no) +
                        ": expected two symbols, got '" + line + "'");
    merges.emplace_back(std::move(first), std::move(second));
  }
  if (merges.empty())
    throw FormatError("BPE merges file " + path.string() + " has no merges (empty file?)");
  return std::make_shared<const ByteLevelBpe>(std::move(merges));
}

std::vector<std::string> ByteLevelBpe::apply(const std::string& token) const {
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(token);
    if (it != cache_.end()) return it->second;
  }
  std::vector<std::string> symbols = merge(token);
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() > 100000) cache_.clear();  // bound memory for long-running processes
  cache_.emplace(token, symbols);
  return symbols;
}

std::vector<std::string> ByteLevelBpe::merge(const std::string& token) const {
  std::vector<std::string> word = utf8_chars(token);
  if (word.empty()) return {};
  word.back() += kEndOfWord;
  while (word.size() > 1) {
    // The adjacent pair with the lowest rank.
    int best_rank = INT_MAX;
    size_t best = 0;
    for (size_t i = 0; i + 1 < word.size(); ++i) {
      auto it = ranks_.find(word[i] + ' ' + word[i + 1]);
      if (it != ranks_.end() && it->second < best_rank) {
        best_rank = it->second;
        best = i;
      }
    }
    if (best_rank == INT_MAX) break;
    const std::string first = word[best], second = word[best + 1];
    // Merge every non-overlapping occurrence, left to right.
    std::vector<std::string> merged;
    merged.reserve(word.size());
    for (size_t i = 0; i < word.size();) {
      if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
        merged.push_back(first + second);
        i += 2;
      } else {
        merged.push_back(word[i]);
        ++i;
      }
    }
    word = std::move(merged);
  }
  return word;
}

}  // namespace i2v::text
