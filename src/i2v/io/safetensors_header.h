// The safetensors header: dtype names and validation of the JSON header against the data block.
// Free of libtorch so the fuzzer can build it alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace i2v::io {

// Every dtype the format defines.
enum class StDType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL, F8_E4M3, F8_E5M2 };

std::string to_string(StDType t);                    // "F32", ...
StDType st_dtype_from_string(const std::string& s);  // throws FormatError on unknown names
size_t element_size(StDType t);

struct TensorInfo {
  std::string name;
  StDType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the data block
  uint64_t end = 0;
  int64_t numel() const;
};

struct Header {
  std::vector<TensorInfo> tensors;              // sorted by begin offset
  std::map<std::string, std::string> metadata;  // the "__metadata__" block
};

// Largest header accepted (the reference implementation's limit is 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100u * 1000u * 1000u;

// Parses and validates a header (the JSON text only, without the 8-byte length) against a data
// block of `data_size` bytes: rejects invalid JSON, a non-object header, unknown dtypes, bad
// shapes, shape/byte-size mismatches, out-of-range, overlapping or non-contiguous offsets and
// duplicate names, with a FormatError naming `source_name` and the tensor.
Header parse_header(const char* json, size_t json_size, uint64_t data_size,
                    const std::string& source_name);

// Splits a whole file image (length prefix + header + data) and validates it; the fuzzer's entry.
Header parse_file_image(const uint8_t* bytes, size_t size, const std::string& source_name,
                        uint64_t* data_offset = nullptr);

}  // namespace i2v::io
