// Hostile and malformed headers beyond the basic cases: each is a FormatError whose message names
// the problem, checked on the torch-free parser directly and through SafetensorsFile::open.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "i2v/error.h"
#include "i2v/io/safetensors.h"
#include "i2v/io/safetensors_header.h"
#include "support/test_support.h"

namespace i2v::io {
namespace {
namespace fs = std::filesystem;

std::string image(const std::string& header, const std::string& data, uint64_t n) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out + header + data;
}
std::string image(const std::string& header, const std::string& data = "") {
  return image(header, data, header.size());
}

// The FormatError message of parsing `bytes` as a file image ("" if it parsed).
std::string parse_error(const std::string& bytes) {
  try {
    parse_file_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "img.st");
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

const std::string kF32x2 = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";

TEST(SafetensorsHostile, DuplicateTensorNamesAreRejected) {
  // nlohmann::json keeps only the last of repeated keys; the parser must notice the repetition.
  const std::string d8(8, '\0');
  EXPECT_NE(parse_error(image(R"({"a":)" + kF32x2 + R"(,"a":)" + kF32x2 + "}", d8))
                .find("duplicate tensor name 'a'"),
            std::string::npos);
  // Repeated with different offsets that would otherwise look like a simple gap.
  std::string second = R"({"dtype":"F32","shape":[2],"data_offsets":[8,16]})";
  EXPECT_NE(parse_error(image(R"({"a":)" + kF32x2 + R"(,"a":)" + second + "}", d8 + d8))
                .find("duplicate tensor name 'a'"),
            std::string::npos);
  EXPECT_NE(parse_error(image(R"({"__metadata__":{},"__metadata__":{}})")).find("duplicate"),
            std::string::npos);
  // Repeated keys inside an entry or the metadata are ambiguous too.
  EXPECT_NE(parse_error(image(R"({"a":{"dtype":"F32","dtype":"I32","shape":[2],)"
                              R"("data_offsets":[0,8]}})",
                              d8))
                .find("repeats the key 'dtype'"),
            std::string::npos);
  EXPECT_NE(parse_error(image(R"({"__metadata__":{"k":"1","k":"2"}})")).find("repeats the key 'k'"),
            std::string::npos);
  // The same key in sibling objects is fine.
  EXPECT_EQ(parse_error(image(R"({"a":)" + kF32x2 +
                                  R"(,"b":{"dtype":"F32","shape":[2],)"
                                  R"("data_offsets":[8,16]}})",
                              d8 + d8)),
            "");
}

TEST(SafetensorsHostile, MalformedEntriesNameTheTensorAndTheProblem) {
  const std::string d8(8, '\0');
  struct Case {
    std::string header, data, expect;
  };
  const std::vector<Case> cases = {
      {R"("just a string")", "", "not a JSON object"},
      {"null", "", "not a JSON object"},
      {"42", "", "not a JSON object"},
      {"", "", "not valid JSON"},
      {R"({"a":1})", "", "entry 'a' is not a JSON object"},
      {R"({"__metadata__":[1]})", "", "__metadata__ is not a JSON object"},
      {R"({"__metadata__":{"k":null}})", "", "__metadata__ value 'k' is not a string"},
      {R"({"a":{"shape":[2],"data_offsets":[0,8]}})", d8, "tensor 'a' has no dtype"},
      {R"({"a":{"dtype":7,"shape":[2],"data_offsets":[0,8]}})", d8, "tensor 'a' has no dtype"},
      {R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", d8, "tensor 'a' has no shape"},
      {R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", d8, "tensor 'a' has no shape"},
      {R"({"a":{"dtype":"F32","shape":[2]}})", d8, "tensor 'a' needs data_offsets"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}})", d8, "needs data_offsets"},
      {R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", d8, "shape entry"},
      {R"({"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", d8, "shape entry"},
      {R"({"a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,8]}})", d8,
       "tensor 'a'"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0.0,8]}})", d8, "data offset"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", d8, "data offset"},
      {R"({"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}})", d8, "unknown dtype 'f32'"},
      {R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d8 + "x", "cover 8"},
      {"{}", "trailing", "cover 0"},
      {std::string("{\"a") + '\xff' + "\":" + kF32x2 + "}", d8, "not valid JSON"},  // bad UTF-8
  };
  for (const auto& c : cases) {
    std::string msg = parse_error(image(c.header, c.data));
    EXPECT_NE(msg.find(c.expect), std::string::npos) << c.header << " -> '" << msg << "'";
    EXPECT_NE(msg.find("img.st"), std::string::npos) << msg;
  }
}

TEST(SafetensorsHostile, HeaderLengthLimitsAreChecked) {
  // Exactly at the limit is only a matter of the file being long enough; one byte more is absurd.
  EXPECT_NE(parse_error(image("{}", "", kMaxHeaderBytes)).find("beyond the end of the file"),
            std::string::npos);
  EXPECT_NE(parse_error(image("{}", "", kMaxHeaderBytes + 1)).find("absurdly large"),
            std::string::npos);
  EXPECT_NE(parse_error(image("{}", "", ~uint64_t{0})).find("absurdly large"), std::string::npos);
  EXPECT_NE(parse_error(std::string(7, '\0')).find("shorter than the 8-byte"), std::string::npos);
  // A zero-length header is empty JSON; an empty header object with no data is a valid file.
  EXPECT_NE(parse_error(image("", "", 0)).find("not valid JSON"), std::string::npos);
  EXPECT_EQ(parse_error(image("{}")), "");
  EXPECT_EQ(parse_error(image("{}      ")), "");  // space padding as writers add it
}

TEST(SafetensorsHostile, ParsedHeadersAreSortedByOffsetWithMetadata) {
  std::string header = R"({"late":{"dtype":"U8","shape":[3],"data_offsets":[2,5]},)"
                       R"("__metadata__":{"format":"pt"},)"
                       R"("early":{"dtype":"I16","shape":[1],"data_offsets":[0,2]}})";
  std::string bytes = image(header, "abcde");
  uint64_t data_offset = 0;
  Header h = parse_file_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x",
                              &data_offset);
  EXPECT_EQ(data_offset, 8 + header.size());
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].name, "early");
  EXPECT_EQ(h.tensors[0].dtype, StDType::I16);
  EXPECT_EQ(h.tensors[1].name, "late");
  EXPECT_EQ(h.tensors[1].numel(), 3);
  EXPECT_EQ(h.metadata.at("format"), "pt");
  // Two empty tensors may share an offset (no bytes overlap).
  EXPECT_EQ(parse_error(image(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                              R"("b":{"dtype":"I8","shape":[2,0],"data_offsets":[0,0]}})")),
            "");
}

TEST(SafetensorsHostile, DtypeNamesRoundTrip) {
  for (StDType t : {StDType::F64, StDType::F32, StDType::F16, StDType::BF16, StDType::I64,
                    StDType::I32, StDType::I16, StDType::I8, StDType::U8, StDType::BOOL,
                    StDType::F8_E4M3, StDType::F8_E5M2}) {
    EXPECT_EQ(st_dtype_from_string(to_string(t)), t);
    EXPECT_GT(element_size(t), 0u);
  }
  EXPECT_THROW(st_dtype_from_string("F4"), FormatError);
  EXPECT_THROW(st_dtype_of(at::kComplexDouble), ConfigError);
}

TEST(SafetensorsHostile, OpenReportsTheKindOfFailure) {
  test::TempDir tmp;
  auto write = [&](const std::string& name, const std::string& bytes) {
    std::ofstream(tmp / name, std::ios::binary) << bytes;
    return tmp / name;
  };
  EXPECT_THROW(SafetensorsFile::open(write("empty.safetensors", "")), FormatError);
  EXPECT_THROW(SafetensorsFile::open(write(
                   "dup.safetensors",
                   image(R"({"a":)" + kF32x2 + R"(,"a":)" + kF32x2 + "}", std::string(8, '\0')))),
               FormatError);
  try {
    SafetensorsFile::open(tmp / "nope.safetensors");
    ADD_FAILURE() << "opened a missing file";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.safetensors"), std::string::npos) << e.what();
  }
  try {
    SafetensorsFile::open(tmp.path());
    ADD_FAILURE() << "opened a directory";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
  // A tensor that is not in the file names both.
  auto file = SafetensorsFile::open(write("ok.safetensors", image("{}")));
  try {
    file->tensor("missing.weight");
    ADD_FAILURE() << "found a missing tensor";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("'missing.weight'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ok.safetensors"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace i2v::io
