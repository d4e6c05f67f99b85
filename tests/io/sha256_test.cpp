// SHA-256 against the FIPS 180-4 / NIST example vectors, in one piece and streamed in odd chunks.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "i2v/error.h"
#include "i2v/io/sha256.h"
#include "support/test_support.h"

namespace i2v::io {
namespace {

TEST(Sha256, NistVectors) {
  EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc", 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(sha256_hex(two_blocks.data(), two_blocks.size()),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // One million 'a', fed in chunks that straddle the 64-byte blocks.
  const std::string chunk(997, 'a');
  Sha256 s;
  size_t left = 1000000;
  while (left > 0) {
    const size_t n = std::min(left, chunk.size());
    s.update(chunk.data(), n);
    left -= n;
  }
  EXPECT_EQ(s.hex_digest(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, FilesAndUnreadableFiles) {
  test::TempDir tmp;
  std::ofstream(tmp / "abc.txt") << "abc";
  EXPECT_EQ(sha256_file(tmp / "abc.txt"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_THROW(sha256_file(tmp / "missing"), IoError);
}

}  // namespace
}  // namespace i2v::io
