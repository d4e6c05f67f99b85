// Byte-level BPE as in GPT-2 / CLIP: each UTF-8 byte of a pre-token is first mapped to a printable
// stand-in character (bytes_to_unicode), the last symbol gets the "</w>" end-of-word suffix, then
// the ranked merges are applied, lowest rank first, until none applies.
#pragma once

#include <array>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace i2v::text {

// The 256 stand-in characters (as UTF-8), indexed by byte value.
const std::array<std::string, 256>& byte_encoder();
// Maps a stand-in character back to its byte; -1 when `cp` is no stand-in.
int byte_from_stand_in(char32_t cp);
// UTF-8 bytes -> their stand-in characters (as UTF-8).
std::string bytes_to_stand_ins(std::string_view bytes);

class ByteLevelBpe {
 public:
  // Merges in rank order: pair (first, second), both in stand-in form.
  explicit ByteLevelBpe(std::vector<std::pair<std::string, std::string>> merges);

  // Reads merges.txt as CLIPTokenizer does: the first line (the "#version" header) is skipped
  // and at most `max_merges` merge lines are used (CLIP: 49152 - 256 - 2 = 48894). Throws IoError
  // when the file cannot be read and FormatError for a line that is not two symbols.
  static std::shared_ptr<const ByteLevelBpe> from_merges_file(const std::filesystem::path& path,
                                                              size_t max_merges);

  // The BPE symbols of one pre-token given in stand-in form; the last one ends with "</w>".
  // Results are cached (thread-safe).
  std::vector<std::string> apply(const std::string& stand_in_token) const;

  size_t num_merges() const { return ranks_.size(); }

 private:
  std::vector<std::string> merge(const std::string& token) const;
  std::unordered_map<std::string, int> ranks_;  // "first second" -> rank
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<std::string>> cache_;
};

}  // namespace i2v::text
