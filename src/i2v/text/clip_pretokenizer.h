// CLIP's pre-tokenisation pattern, evaluated as `regex.findall` does with re.IGNORECASE:
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// Branches are tried in order at each position; characters no branch matches (whitespace, and
// U+0345 under IGNORECASE) are skipped.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace i2v::text {

std::vector<std::u32string> clip_pretokenize(std::u32string_view normalized_text);

}  // namespace i2v::text
