#include "i2v/io/safetensors_header.h"

#include <algorithm>
#include <limits>
#include <set>

#include <nlohmann/json.hpp>

#include "i2v/error.h"

namespace i2v::io {
namespace {

struct DTypeName {
  StDType type;
  const char* name;
  size_t size;
};
constexpr DTypeName kDTypes[] = {
    {StDType::F64, "F64", 8},   {StDType::F32, "F32", 4},         {StDType::F16, "F16", 2},
    {StDType::BF16, "BF16", 2}, {StDType::I64, "I64", 8},         {StDType::I32, "I32", 4},
    {StDType::I16, "I16", 2},   {StDType::I8, "I8", 1},           {StDType::U8, "U8", 1},
    {StDType::BOOL, "BOOL", 1}, {StDType::F8_E4M3, "F8_E4M3", 1}, {StDType::F8_E5M2, "F8_E5M2", 1},
};

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw FormatError("invalid safetensors file " + source + ": " + what);
}

uint64_t to_offset(const nlohmann::json& v, const std::string& source, const std::string& name) {
  if (!v.is_number_unsigned()) {
    if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<uint64_t>();
    fail(source, "tensor '" + name + "' has a data offset that is not a non-negative integer");
  }
  return v.get<uint64_t>();
}

}  // namespace

std::string to_string(StDType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.name;
  return "?";
}

StDType st_dtype_from_string(const std::string& s) {
  for (const auto& d : kDTypes)
    if (s == d.name) return d.type;
  throw FormatError("unknown safetensors dtype '" + s + "'");
}

size_t element_size(StDType t) {
  for (const auto& d : kDTypes)
    if (d.type == t) return d.size;
  return 0;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Header parse_header(const char* json, size_t json_size, uint64_t data_size,
                    const std::string& source) {
  // nlohmann keeps the last of repeated keys silently; the reference rejects repeated tensor
  // names, so the parse callback records the keys seen in each open object.
  std::vector<std::set<std::string>> open_objects;
  std::string repeated;
  int repeated_depth = 0;
  auto watch_keys = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) {
      open_objects.emplace_back();
    } else if (event == Event::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == Event::key && !open_objects.empty() && repeated.empty()) {
      if (!open_objects.back().insert(parsed.get<std::string>()).second) {
        repeated = parsed.get<std::string>();
        repeated_depth = depth;
      }
    }
    return true;
  };
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(json, json + json_size, watch_keys);
  } catch (const nlohmann::json::exception& e) {
    fail(source, std::string("the header is not valid JSON (") + e.what() + ")");
  }
  if (!root.is_object()) fail(source, "the header is not a JSON object");
  if (!repeated.empty()) {
    fail(source, repeated_depth <= 1 ? "duplicate tensor name '" + repeated + "' in the header"
                                     : "the header repeats the key '" + repeated + "'");
  }

  Header header;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) fail(source, "__metadata__ is not a JSON object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          fail(source, "__metadata__ value '" + m.key() + "' is not a string");
        header.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object()) fail(source, "entry '" + name + "' is not a JSON object");
    auto dt = v.find("dtype");
    auto sh = v.find("shape");
    auto off = v.find("data_offsets");
    if (dt == v.end() || !dt->is_string())
      fail(source, "tensor '" + name + "' has no dtype string");
    if (sh == v.end() || !sh->is_array()) fail(source, "tensor '" + name + "' has no shape array");
    if (off == v.end() || !off->is_array() || off->size() != 2) {
      fail(source, "tensor '" + name + "' needs data_offsets [begin, end]");
    }
    TensorInfo info;
    info.name = name;
    try {
      info.dtype = st_dtype_from_string(dt->get<std::string>());
    } catch (const FormatError&) {
      fail(source, "tensor '" + name + "' has unknown dtype '" + dt->get<std::string>() + "'");
    }
    // numel * element size, with overflow checks (a hostile shape must not wrap around).
    uint64_t bytes = element_size(info.dtype);
    for (const auto& d : *sh) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) {
        fail(source, "tensor '" + name + "' has a shape entry that is not a non-negative integer");
      }
      uint64_t dim = d.get<uint64_t>();
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
          (dim != 0 && bytes > std::numeric_limits<uint64_t>::max() / dim)) {
        fail(source, "tensor '" + name + "' has a shape whose size overflows");
      }
      info.shape.push_back(static_cast<int64_t>(dim));
      bytes *= dim;
    }
    info.begin = to_offset((*off)[0], source, name);
    info.end = to_offset((*off)[1], source, name);
    if (info.begin > info.end) fail(source, "tensor '" + name + "' has begin > end offsets");
    if (info.end > data_size) {
      fail(source, "tensor '" + name + "' ends at byte " + std::to_string(info.end) +
                       " of a data block of " + std::to_string(data_size) +
                       " bytes (truncated file?)");
    }
    if (info.end - info.begin != bytes) {
      fail(source, "tensor '" + name + "' has " + std::to_string(info.end - info.begin) +
                       " bytes of data but its dtype and shape need " + std::to_string(bytes));
    }
    header.tensors.push_back(std::move(info));
  }

  std::sort(header.tensors.begin(), header.tensors.end(), [](const auto& a, const auto& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // The data block must be covered exactly, without overlaps or holes (as the reference requires).
  uint64_t expected = 0;
  for (const auto& t : header.tensors) {
    if (t.begin < expected) fail(source, "tensor '" + t.name + "' overlaps another tensor's data");
    if (t.begin > expected) {
      fail(source, "there is a gap in the data block before tensor '" + t.name + "'");
    }
    expected = t.end;
  }
  if (expected != data_size) {
    fail(source, "the data block has " + std::to_string(data_size) +
                     " bytes but the tensors cover " + std::to_string(expected));
  }
  return header;
}

Header parse_file_image(const uint8_t* bytes, size_t size, const std::string& source,
                        uint64_t* data_offset) {
  if (size < 8) fail(source, "the file is shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];  // little-endian
  if (n > kMaxHeaderBytes)
    fail(source, "header length " + std::to_string(n) + " is absurdly large");
  if (n > size - 8) {
    fail(source, "header length " + std::to_string(n) + " runs beyond the end of the file (" +
                     std::to_string(size) + " bytes)");
  }
  if (data_offset) *data_offset = 8 + n;
  return parse_header(reinterpret_cast<const char*>(bytes) + 8, n, size - 8 - n, source);
}

}  // namespace i2v::io
