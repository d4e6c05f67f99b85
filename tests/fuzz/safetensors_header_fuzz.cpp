// libFuzzer target: any byte string, taken as a whole safetensors file image, must either parse
// into a consistent header or raise i2v::Error — never crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>

#include "i2v/error.h"
#include "i2v/io/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    uint64_t data_offset = 0;
    i2v::io::Header h = i2v::io::parse_file_image(data, size, "fuzz", &data_offset);
    // What parsing promises: every tensor lies inside the data block, in order, without overlap.
    uint64_t end = 0;
    for (const auto& t : h.tensors) {
      if (t.begin < end || t.end < t.begin || data_offset + t.end > size) __builtin_trap();
      end = t.end;
    }
  } catch (const i2v::Error&) {
  }
  return 0;
}
