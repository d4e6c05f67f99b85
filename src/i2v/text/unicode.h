// Unicode text handling with Python 3.11 semantics (Unicode 14.0): UTF-8 coding, character
// classes, str.lower() and NFC. The CLIP tokenizer's reference runs on Python `str`, so every
// step here reproduces what CPython does, not what a locale or ICU would do.
#pragma once

#include <string>
#include <string_view>

namespace i2v::text {

// UTF-8 -> code points. Invalid input never throws: every maximal ill-formed subsequence becomes
// one U+FFFD, exactly like Python's `bytes.decode("utf-8", errors="replace")` (overlong forms,
// surrogates, code points above U+10FFFF and truncated sequences are all ill-formed).
std::u32string decode_utf8(std::string_view bytes);
// Code points -> UTF-8. Surrogates and values above U+10FFFF are written as U+FFFD.
std::string encode_utf8(std::u32string_view text);
void append_utf8(std::string& out, char32_t cp);

namespace unicode {
bool is_bert_control(char32_t c);     // category C* except \t \n \r
bool is_bert_whitespace(char32_t c);  // ' ', \t, \n, \r or category Zs
bool is_python_space(char32_t c);     // str.isspace()
bool is_letter(char32_t c);           // category L*
bool is_number(char32_t c);           // category N*
bool is_white_space(char32_t c);      // Unicode White_Space (the regex module's \s)
bool is_regex_dropped(char32_t c);    // matched by no branch of CLIP's pattern (U+0345)
bool is_cjk_ideograph(char32_t c);    // BasicTokenizer._is_chinese_char
int combining_class(char32_t c);
}  // namespace unicode

// Python's str.lower(): full lowercase mapping (U+0130 -> "i\u0307") and the Final_Sigma rule
// for U+03A3 (decided within `text`, as CPython does for the string being lowered).
std::u32string python_lower(std::u32string_view text);

// unicodedata.normalize("NFC", text).
std::u32string nfc(std::u32string_view text);

}  // namespace i2v::text
