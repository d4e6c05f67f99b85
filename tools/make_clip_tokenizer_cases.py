#!/usr/bin/env python3
"""Writes tests/data/text/clip_real_vocab_cases.json: expected CLIP token ids on the real
vocabulary (shared/data/i2vgen-xl-official-configs/tokenizer) for prompts in several languages,
emoji, special tokens, empty and long prompts.

transformers cannot run here, so this is an independent Python re-statement of transformers 4.45's
slow CLIPTokenizer path without ftfy (PreTrainedTokenizer.tokenize's added-token split,
BasicTokenizer(strip_accents=False, do_split_on_punc=False), the `regex` pattern with IGNORECASE,
byte-level BPE, BOS/EOS, truncation and max_length padding). It runs on Python's own unicodedata,
str.lower() and the `regex` module (not stdlib: `pip install regex`), so the C++ port is checked
against the real Unicode behaviour. Before writing anything it reproduces every case of the
golden tokenizer unit (made with transformers itself), and refuses to write on any difference.

Usage: python3 tools/make_clip_tokenizer_cases.py [SHARED_DIR]   (default: ../shared)
"""
import json
import struct
import sys
import unicodedata
from pathlib import Path

import regex

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared"
OUT = ROOT / "tests" / "data" / "text" / "clip_real_vocab_cases.json"

PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE)


def byte_stand_ins():
    keep = list(range(33, 127)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def basic_tokenize(text):
    kept = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ord(ch) in (0, 0xFFFD) or (ch not in "\t\n\r" and cat.startswith("C")):
            continue
        kept.append(" " if ch in " \t\n\r" or cat == "Zs" else ch)
    spaced = []
    for ch in kept:
        cp = ord(ch)
        cjk = (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
               0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or
               0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)
        spaced.append(" %s " % ch if cjk else ch)
    words = unicodedata.normalize("NFC", "".join(spaced)).split()
    return " ".join(w.lower() for w in words).split()


class Tokenizer:
    def __init__(self, folder):
        folder = Path(folder)
        self.vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        lines = (folder / "merges.txt").read_text(encoding="utf-8").strip().split("\n")
        merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
        self.ranks = {m: i for i, m in enumerate(merges)}
        cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        specials = {k: cfg[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
        smap = json.loads((folder / "special_tokens_map.json").read_text(encoding="utf-8"))
        for k, v in smap.items():
            specials[k] = v["content"] if isinstance(v, dict) else v
        self.added = {v["content"]: int(k) for k, v in cfg.get("added_tokens_decoder", {}).items()}
        for v in specials.values():
            self.added.setdefault(v, self.vocab[v])
        self.bos = self.added[specials["bos_token"]]
        self.eos = self.added[specials["eos_token"]]
        self.pad = self.added[specials["pad_token"]]
        self.unk = specials["unk_token"]
        self.max_length = cfg["model_max_length"]
        self.stand_in = byte_stand_ins()

    def bpe(self, token):
        if token in ("<|startoftext|>", "<|endoftext|>"):
            return [token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            ranked = [(self.ranks.get((a, b), float("inf")), a, b) for a, b in zip(word, word[1:])]
            rank, a, b = min(ranked)
            if rank == float("inf"):
                break
            merged, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = merged
        return word

    def split_added(self, text):
        """Leftmost-longest split on literal added tokens (the tokens trie)."""
        pieces, start, i = [], 0, 0
        by_length = sorted(self.added, key=len, reverse=True)
        while i < len(text):
            hit = next((t for t in by_length if text.startswith(t, i)), None)
            if hit is None:
                i += 1
                continue
            pieces += [(text[start:i], False), (hit, True)]
            i += len(hit)
            start = i
        pieces.append((text[start:], False))
        return [(p, special) for p, special in pieces if p]

    def tokenize(self, text):
        tokens = []
        for piece, special in self.split_added(text):
            if special:
                tokens.append(piece)
                continue
            for t in PATTERN.findall(" ".join(basic_tokenize(piece))):
                tokens += self.bpe("".join(self.stand_in[b] for b in t.encode("utf-8")))
        return tokens

    def ids(self, text):
        return [self.added.get(t, self.vocab.get(t, self.vocab[self.unk]))
                for t in self.tokenize(text)]

    def __call__(self, text):
        body = self.ids(text)
        full = [self.bos] + body + [self.eos]
        truncated = [self.bos] + body[:self.max_length - 2] + [self.eos]
        padded = truncated + [self.pad] * (self.max_length - len(truncated))
        mask = [1] * len(truncated) + [0] * (self.max_length - len(truncated))
        return full, padded, mask


def read_golden(path):
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = json.loads(header.pop("__metadata__")["golden_meta"])
    tensors = {}
    for name, info in header.items():
        assert info["dtype"] == "I64"
        a, b = info["data_offsets"]
        raw = data[8 + n + a:8 + n + b]
        tensors[name] = list(struct.unpack("<%dq" % (len(raw) // 8), raw))
    return meta, tensors


CASES = [
    ("known_cat", "a photo of a cat"),
    ("pipeline_prompt", "A red Fox jumping over the frozen lake at sunset, 4k photo!"),
    ("pipeline_negative", "blurry, distorted, low quality"),
    ("empty", ""),
    ("whitespace_only", "  \t\n\u3000 "),
    ("german", "Ein Hund läuft über die Straße"),
    ("french", "Un café à Paris, l'été dernier"),
    ("spanish", "¿Dónde está la playa? ¡Aquí!"),
    ("russian", "Кошка сидит на окне, ЗИМА"),
    ("greek_final_sigma", "ΟΔΟΣ ΣΟΦΙΑΣ Σ."),
    ("arabic", "قطة على الشاطئ عند الغروب"),
    ("hebrew", "חתול על החוף"),
    ("hindi", "समुद्र तट पर बिल्ली"),
    ("chinese", "一只猫在海滩上，夕阳。"),
    ("japanese", "東京の夜景、ネオンが輝く"),
    ("korean", "해변의 고양이"),
    ("thai", "แมวบนชายหาด"),
    ("emoji", "a cat 🐱 on the beach 🏖️ with family 👩‍👩‍👧 👍🏽!!"),
    ("combining_accent", "cafe\u0301 nai\u0308ve"),
    ("turkish_dotted_i", "İSTANBUL İstanbul"),
    ("contractions", "It's the cat's toy, we'll see; I'M sure they'd've 'REALLY"),
    ("specials_inside", "a <|endoftext|> b<|startoftext|>c"),
    ("specials_upper_and_glued", "<|ENDOFTEXT|> x!<|endoftext|>y !<|ENDOFTEXT|>"),
    ("numbers", "1234567 3.14159 1st 2nd ½ ² ٣ Ⅻ"),
    ("controls_and_spaces", "a\u200bb\u00adc\x07d\u2028e\u3000f\u200dg\ufeffh\x85i"),
    ("punctuation", "wow!!! ... ??? --- (test) [x] {y} #tag @user $5 100% a/b \"q\""),
    ("url", "https://example.com/path?q=1&x=2"),
    ("long_s_and_ypogegrammeni", "'ſ ſun a\u0345b ᾳ"),
    ("cjk_compat_and_ext", "\uf900\U00020000x\u3400"),
    ("long", " ".join(["a beautiful landscape painting of mountains and rivers"] * 12)),
]


def main():
    golden = SHARED / "golden" / "golden" / "units" / "tokenizer.safetensors"
    meta, tensors = read_golden(golden)
    tiny = Tokenizer(SHARED / "golden" / "pipeline" / "tokenizer")
    for name, text in meta["cases"].items():
        full, padded, _ = tiny(text)
        if full != tensors["case.%s.ids" % name] or padded != tensors["case.%s.ids_padded" % name]:
            sys.exit("reference disagrees with the golden case %r: not writing" % name)
    print("reference reproduces all %d golden tokenizer cases" % len(meta["cases"]))

    real = Tokenizer(SHARED / "data" / "i2vgen-xl-official-configs" / "tokenizer")
    cases = []
    for name, text in CASES:
        full, padded, mask = real(text)
        cases.append({"name": name, "text": text, "ids": full, "input_ids": padded,
                      "attention_mask": mask, "tokens": real.tokenize(text)})
    assert cases[0]["ids"] == [49406, 320, 1125, 539, 320, 2368, 49407]
    source = "tools/make_clip_tokenizer_cases.py (Python %s, unicodedata %s, regex %s)" % (
        sys.version.split()[0], unicodedata.unidata_version, regex.__version__)
    text = ('{"source": %s,\n "tokenizer": "shared/data/i2vgen-xl-official-configs/tokenizer",\n'
            ' "cases": [\n%s\n]}\n' % (json.dumps(source), ",\n".join(
                json.dumps(c, ensure_ascii=False) for c in cases)))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print("wrote %s (%d cases, %d bytes)" % (OUT, len(cases), OUT.stat().st_size))


if __name__ == "__main__":
    main()
