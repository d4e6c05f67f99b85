// SHA-256 (FIPS 180-4) of files and bytes: what metadata records to name a LoRA file exactly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace i2v::io {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::string hex_digest();  // lowercase, 64 characters; the object is spent after this

 private:
  void block(const uint8_t* p);
  uint32_t h_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

std::string sha256_hex(const void* data, size_t size);
// Streams the file (1 MiB at a time). IoError naming it when it cannot be read.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace i2v::io
