// The text cleanup CLIPTokenizer applies before its regex when `ftfy` is not installed (as when
// the goldens were made): transformers' BasicTokenizer(strip_accents=False,
// do_split_on_punc=False), i.e. control-character removal, whitespace -> ' ', spaces around CJK
// ideographs, NFC, whitespace splitting and str.lower() of each word.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace i2v::text {

// BasicTokenizer.tokenize(text): the lower-cased words.
std::vector<std::u32string> basic_tokenize(std::u32string_view text);

// " ".join(BasicTokenizer.tokenize(text)): what CLIP's pre-tokenisation pattern runs on.
std::u32string normalize_clip_text(std::u32string_view text);

}  // namespace i2v::text
