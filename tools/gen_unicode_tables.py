#!/usr/bin/env python3
"""Generates src/i2v/text/unicode_tables.{h,cpp}: the Unicode data the CLIP tokenizer needs.

The reference (transformers' slow CLIPTokenizer without ftfy) runs on Python: BasicTokenizer text
cleaning (unicodedata categories, NFC), str.lower(), str.split(), and the `regex` module's
\\p{L} / \\p{N} / \\s under re.IGNORECASE. Every table below is taken from this Python's
`unicodedata` (3.11: Unicode 14.0.0, the version the goldens were made with), so that the C++ side
sees exactly the same character classes.

Usage: python3 tools/gen_unicode_tables.py [--check]   (from the repository root)
"""
import sys
import unicodedata
from pathlib import Path

MAX_CP = 0x110000
OUT_DIR = Path(__file__).resolve().parent.parent / "src" / "i2v" / "text"


def chars():
    for cp in range(MAX_CP):
        if 0xD800 <= cp <= 0xDFFF:
            continue  # surrogates never occur in decoded text
        yield cp, chr(cp)


def ranges_of(pred):
    """Sorted inclusive [lo, hi] ranges of the code points where pred holds."""
    out = []
    for cp, c in chars():
        if pred(cp, c):
            if out and out[-1][1] == cp - 1:
                out[-1][1] = cp
            else:
                out.append([cp, cp])
    return out


def cat(c):
    return unicodedata.category(c)


# --- BasicTokenizer (_is_control, _is_whitespace) ---------------------------------------------
def bert_control(cp, c):
    return c not in "\t\n\r" and cat(c).startswith("C")


def bert_whitespace(cp, c):
    return c in " \t\n\r" or cat(c) == "Zs"


# --- str.split() / str.strip() ----------------------------------------------------------------
def python_space(cp, c):
    return c.isspace()


# --- regex module classes under IGNORECASE --------------------------------------------------------
# Unicode White_Space (what the regex module's \s matches for str patterns).
WHITE_SPACE = set(range(0x09, 0x0E)) | {0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F,
                                        0x3000} | set(range(0x2000, 0x200B))


def case_variants(c):
    """c and its simple case partners (what IGNORECASE lets a class member match)."""
    out = {c}
    for f in (str.lower, str.upper, str.casefold):
        v = f(c)
        if len(v) == 1:
            out.add(v)
    return out


def regex_letter(cp, c):
    return cat(c).startswith("L")


def regex_number(cp, c):
    return cat(c).startswith("N")


def regex_dropped(cp, c):
    """Neither [\\p{L}] nor [^\\s\\p{L}\\p{N}] matches these under IGNORECASE: the negated class
    rejects a character when one of its case partners is in it, while \\p{L} itself tests the
    character only. In Unicode 14 this is only U+0345 (its partners are Greek iota), which
    re.findall therefore skips like whitespace (checked against the regex module)."""
    if regex_letter(cp, c) or regex_number(cp, c) or regex_space(cp, c):
        return False
    return any(cat(v)[0] in "LN" for v in case_variants(c))


def regex_space(cp, c):
    return cp in WHITE_SPACE


# --- str.lower() final-sigma context (CPython: _PyUnicode_IsCased / _PyUnicode_IsCaseIgnorable) --
# unicodedata does not expose these properties; they are read off str.lower() itself: in
# "1" + c + "Σ" the sigma is final iff c is not case-ignorable and is cased, and in "A" + c + "Σ"
# it is final iff c is case-ignorable or cased.
def sigma_final(s):
    return s.lower()[-1] == "\u03c2"


def case_ignorable(cp, c):
    return sigma_final("A" + c + "\u03a3") and not sigma_final("1" + c + "\u03a3")


def cased(cp, c):
    return sigma_final("1" + c + "\u03a3")


def lower_maps():
    single, multi = [], []
    for cp, c in chars():
        if cp == 0x3A3:
            continue  # context dependent, handled in code
        low = c.lower()
        if low == c:
            continue
        if len(low) == 1:
            single.append((cp, ord(low)))
        else:
            multi.append((cp, [ord(x) for x in low]))
    return single, multi


# --- NFC -----------------------------------------------------------------------------------------
def nfc_tables():
    ccc = []  # ranges with one combining class
    for cp, c in chars():
        k = unicodedata.combining(c)
        if not k:
            continue
        if ccc and ccc[-1][1] == cp - 1 and ccc[-1][2] == k:
            ccc[-1][1] = cp
        else:
            ccc.append([cp, cp, k])
    decomp = []  # one level of canonical decomposition: cp -> (a, b) with b = 0 for singletons
    compose = []  # primary composites: (a, b) -> cp
    for cp, c in chars():
        if 0xAC00 <= cp <= 0xD7A3:
            continue  # Hangul syllables are algorithmic
        d = unicodedata.decomposition(c)
        if not d or d.startswith("<"):
            continue
        parts = [int(x, 16) for x in d.split()]
        assert len(parts) in (1, 2), (hex(cp), d)
        decomp.append((cp, parts[0], parts[1] if len(parts) == 2 else 0))
        if len(parts) == 2 and unicodedata.normalize("NFC", c) == c:
            compose.append((parts[0], parts[1], cp))
    compose.sort()
    return ccc, decomp, compose


# --- output ----------------------------------------------------------------------------------------
def fmt_rows(items, per_line):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append("    " + " ".join(items[i:i + per_line]))
    return "\n".join(lines)


def range_array(name, rs):
    items = ["{0x%X, 0x%X}," % (lo, hi) for lo, hi in rs]
    return ("const CodeRange %s[] = {\n%s\n};\nconst size_t %s_size = %d;\n" %
            (name, fmt_rows(items, 5), name, len(rs)))


CLASSES = [
    ("bert_control", "BasicTokenizer._is_control: category C* except \\t \\n \\r", bert_control),
    ("bert_whitespace", "BasicTokenizer._is_whitespace: space, \\t, \\n, \\r or category Zs",
     bert_whitespace),
    ("python_space", "str.isspace(): what str.split() / str.strip() split on", python_space),
    ("regex_letter", "regex [\\p{L}]: category L*", regex_letter),
    ("regex_number", "regex [\\p{N}]: category N*", regex_number),
    ("regex_space", "regex \\s: Unicode White_Space", regex_space),
    ("regex_dropped", "matched by no branch of the CLIP pattern under IGNORECASE (U+0345)",
     regex_dropped),
    ("cased", "CPython _PyUnicode_IsCased, as seen by str.lower()'s final-sigma rule", cased),
    ("case_ignorable", "CPython _PyUnicode_IsCaseIgnorable (final-sigma rule)", case_ignorable),
]


def generate():
    version = unicodedata.unidata_version
    head = ("// Generated by tools/gen_unicode_tables.py from Python %s unicodedata (Unicode %s).\n"
            "// Do not edit: re-run the script.\n" % (sys.version.split()[0], version))
    h = [head, "#pragma once\n\n#include <cstddef>\n#include <cstdint>\n\n",
         "namespace i2v::text::unicode {\n\n",
         'constexpr const char* kUnicodeVersion = "%s";\n\n' % version,
         "struct CodeRange {\n  uint32_t lo, hi;  // inclusive\n};\n",
         "struct CombiningRange {\n  uint32_t lo, hi;\n  uint8_t ccc;\n};\n",
         "struct CaseMapping {\n  uint32_t from, to;\n};\n",
         "struct Decomposition {\n  uint32_t cp, first, second;  // second == 0: singleton\n};\n",
         "struct Composition {\n  uint32_t first, second, composite;\n};\n\n"]
    cpp = [head, '#include "i2v/text/unicode_tables.h"\n\n',
           "namespace i2v::text::unicode {\n\n// clang-format off\n"]
    for name, doc, pred in CLASSES:
        rs = ranges_of(pred)
        h.append("// %s\nextern const CodeRange %s[];\nextern const size_t %s_size;\n" %
                 (doc, name, name))
        cpp.append("// %s\n" % doc + range_array(name, rs))
    single, multi = lower_maps()
    h.append("// str.lower() one-to-one mappings (sorted; U+03A3 excluded: final sigma is contextual)\n"
             "extern const CaseMapping lower_single[];\nextern const size_t lower_single_size;\n")
    items = ["{0x%X, 0x%X}," % m for m in single]
    cpp.append("const CaseMapping lower_single[] = {\n%s\n};\nconst size_t lower_single_size = %d;\n"
               % (fmt_rows(items, 6), len(single)))
    assert len(multi) == 1 and multi[0] == (0x130, [0x69, 0x307]), multi
    h.append("// The only one-to-many str.lower() mapping: U+0130 -> U+0069 U+0307 (checked).\n")
    ccc, decomp, compose = nfc_tables()
    h.append("// Canonical combining classes (non-zero only)\n"
             "extern const CombiningRange combining[];\nextern const size_t combining_size;\n")
    items = ["{0x%X, 0x%X, %d}," % tuple(r) for r in ccc]
    cpp.append("const CombiningRange combining[] = {\n%s\n};\nconst size_t combining_size = %d;\n"
               % (fmt_rows(items, 5), len(ccc)))
    h.append("// One level of canonical decomposition (sorted by cp; Hangul syllables excluded)\n"
             "extern const Decomposition decompositions[];\nextern const size_t decompositions_size;\n")
    items = ["{0x%X, 0x%X, 0x%X}," % d for d in decomp]
    cpp.append("const Decomposition decompositions[] = {\n%s\n};\n"
               "const size_t decompositions_size = %d;\n" % (fmt_rows(items, 5), len(decomp)))
    h.append("// Primary composites (sorted by first, second; composition exclusions removed)\n"
             "extern const Composition compositions[];\nextern const size_t compositions_size;\n")
    items = ["{0x%X, 0x%X, 0x%X}," % d for d in compose]
    cpp.append("const Composition compositions[] = {\n%s\n};\n"
               "const size_t compositions_size = %d;\n" % (fmt_rows(items, 5), len(compose)))
    h.append("\n}  // namespace i2v::text::unicode\n")
    cpp.append("// clang-format on\n\n}  // namespace i2v::text::unicode\n")
    return "".join(h), "".join(cpp)


def main():
    h, cpp = generate()
    targets = {OUT_DIR / "unicode_tables.h": h, OUT_DIR / "unicode_tables.cpp": cpp}
    if "--check" in sys.argv:
        stale = [str(p) for p, text in targets.items() if not p.exists() or p.read_text() != text]
        if stale:
            print("out of date: " + ", ".join(stale))
            return 1
        print("up to date")
        return 0
    for p, text in targets.items():
        p.write_text(text)
        print("wrote %s (%d bytes)" % (p, len(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
