// UTF-8 coding, character classes, str.lower() and NFC against values Python 3.11 gives.
// (The whole tables were also compared with Python over every code point during development.)
#include <gtest/gtest.h>

#include "i2v/text/unicode.h"

namespace i2v::text {
namespace {

TEST(Utf8, DecodesValidText) {
  EXPECT_EQ(decode_utf8("a\xC3\xA9\xE6\x97\xA5\xF0\x9F\x90\xB1"), U"a\u00e9\u65e5\U0001F431");
  EXPECT_EQ(encode_utf8(U"a\u00e9\u65e5\U0001F431"), "a\xC3\xA9\xE6\x97\xA5\xF0\x9F\x90\xB1");
}

// b"...".decode("utf-8", errors="replace") in Python 3.11.
TEST(Utf8, ReplacesEachMaximalInvalidSubsequenceLikePython) {
  EXPECT_EQ(decode_utf8("\xC0\x80"), U"\uFFFD\uFFFD");                      // overlong
  EXPECT_EQ(decode_utf8("\xED\xA0\x80"), U"\uFFFD\uFFFD\uFFFD");            // surrogate
  EXPECT_EQ(decode_utf8("\xF4\x90\x80\x80"), U"\uFFFD\uFFFD\uFFFD\uFFFD");  // > U+10FFFF
  EXPECT_EQ(decode_utf8("\xE2\x82"), U"\uFFFD");                            // truncated
  EXPECT_EQ(decode_utf8("\xE2\x82"
                        "A"),
            U"\uFFFDA");
  EXPECT_EQ(decode_utf8("\xF0\x9F\x98"), U"\uFFFD");
  EXPECT_EQ(decode_utf8("a\xFF"
                        "b\x80"),
            U"a\uFFFDb\uFFFD");
  EXPECT_EQ(decode_utf8(std::string("\0x", 2)), std::u32string(U"\0x", 2));
  EXPECT_EQ(encode_utf8(std::u32string(1, char32_t(0xD800))), "\xEF\xBF\xBD");
}

TEST(UnicodeClasses, MatchPythonCategories) {
  using namespace unicode;
  EXPECT_TRUE(is_letter(U'a'));
  EXPECT_TRUE(is_letter(0x05D0));   // Hebrew alef, Lo
  EXPECT_TRUE(is_letter(0x02B0));   // modifier letter, Lm
  EXPECT_FALSE(is_letter(0x0301));  // combining acute, Mn
  EXPECT_FALSE(is_letter(U'1'));
  EXPECT_TRUE(is_number(0x0663));        // Arabic-Indic three, Nd
  EXPECT_TRUE(is_number(0x00BD));        // one half, No
  EXPECT_TRUE(is_number(0x216B));        // Roman numeral twelve, Nl
  EXPECT_TRUE(is_bert_control(0x200B));  // zero-width space is Cf
  EXPECT_TRUE(is_bert_control(0xE000));  // private use, Co
  EXPECT_TRUE(is_bert_control(0x0378));  // unassigned in Unicode 14, Cn
  EXPECT_FALSE(is_bert_control(U'\t'));
  EXPECT_TRUE(is_bert_whitespace(0x3000));
  EXPECT_FALSE(is_bert_whitespace(0x2028));  // Zl is not Zs ...
  EXPECT_TRUE(is_python_space(0x2028));      // ... but str.split() splits on it
  EXPECT_TRUE(is_python_space(0x1C));
  EXPECT_TRUE(is_regex_dropped(0x0345));
  EXPECT_FALSE(is_regex_dropped(U'!'));
  EXPECT_TRUE(is_cjk_ideograph(0x65E5));
  EXPECT_FALSE(is_cjk_ideograph(0x3042));  // hiragana is not spaced out
  EXPECT_EQ(combining_class(0x0301), 230);
  EXPECT_EQ(combining_class(0x0323), 220);
  EXPECT_EQ(combining_class(U'a'), 0);
}

TEST(PythonLower, FullMappingAndFinalSigma) {
  EXPECT_EQ(python_lower(U"HeLLo ÀÉÎ"), U"hello àéî");
  EXPECT_EQ(python_lower(U"\u0130"), U"i\u0307");  // İ -> i + combining dot
  EXPECT_EQ(python_lower(U"\u212A"), U"k");        // Kelvin sign
  EXPECT_EQ(python_lower(U"ΟΔΟΣ"), U"οδος");       // final
  EXPECT_EQ(python_lower(U"ΣΟΦΙΑ"), U"σοφια");     // initial
  EXPECT_EQ(python_lower(U"Σ"), U"σ");             // alone
  EXPECT_EQ(python_lower(U"ΑΣ'Β"), U"ασ'β");       // ' is case-ignorable: a cased letter follows
  EXPECT_EQ(python_lower(U"ΑΣ."), U"ας.");
  EXPECT_EQ(python_lower(U"ΑΣ\u0301"), U"ας\u0301");
  EXPECT_EQ(python_lower(U"ſ"), U"ſ");  // long s stays
}

TEST(Nfc, ComposesReordersAndRespectsExclusions) {
  EXPECT_EQ(nfc(U"e\u0301"), U"\u00e9");
  EXPECT_EQ(nfc(U"\u00e9"), U"\u00e9");
  EXPECT_EQ(nfc(U"a\u0301\u0323"), U"\u1ea1\u0301");  // below (220) sorts before above (230)
  EXPECT_EQ(nfc(U"\u1100\u1161\u11a8"), U"\uac01");   // Hangul L V T
  EXPECT_EQ(nfc(U"\uac00\u11a8"), U"\uac01");         // LV + T
  EXPECT_EQ(nfc(U"\u0958"), U"\u0915\u093c");         // composition exclusion
  EXPECT_EQ(nfc(U"\u212b"), U"\u00c5");               // singleton (Angstrom)
  EXPECT_EQ(nfc(U"\u0344"), U"\u0308\u0301");         // non-starter decomposition
  EXPECT_EQ(nfc(U"\u0301e"), U"\u0301e");             // leading combining mark
  EXPECT_EQ(nfc(U"a\u0308\u0301"), U"\u00e4\u0301");  // no composite for (ä, acute)
  EXPECT_EQ(nfc(U"\u0b47\u0b3e"), U"\u0b4b");         // two starters compose
  EXPECT_EQ(nfc(U""), U"");
}

}  // namespace
}  // namespace i2v::text
