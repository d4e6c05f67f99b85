#include "i2v/server/job_submission.h"

#include <cctype>

#include "i2v/image/decode.h"
#include "i2v/server/api_error.h"
#include "i2v/server/base64.h"

namespace i2v::server {
namespace {

nlohmann::json parse_json_text(const std::string& text, const char* what) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ApiError(400, std::string(what) + " is not valid JSON");
  if (!j.is_object()) throw ApiError(400, std::string(what) + " must be a JSON object");
  return j;
}

// The upload's name, kept only as a label: path parts and odd characters dropped.
std::string clean_name(const std::string& name) {
  std::string base = name.substr(name.find_last_of("/\\") + 1);
  std::string out;
  for (char c : base) {
    if (static_cast<unsigned char>(c) >= 32 && c != 127 && out.size() < 120) out += c;
  }
  return out;
}

}  // namespace

void check_image(Submission& s, const SubmissionLimits& limits) {
  if (s.image_bytes.empty()) throw ApiError(400, "the image is empty");
  if (s.image_bytes.size() > limits.max_image_bytes) {
    throw ApiError(413, "the image is too large (" + std::to_string(s.image_bytes.size()) +
                            " bytes, at most " + std::to_string(limits.max_image_bytes) + ")");
  }
  const auto* data = reinterpret_cast<const uint8_t*>(s.image_bytes.data());
  const image::ImageFormat f = image::detect_format(data, s.image_bytes.size());
  if (f != image::ImageFormat::Png && f != image::ImageFormat::Jpeg &&
      f != image::ImageFormat::WebP && f != image::ImageFormat::Bmp) {
    throw ApiError(415, "the upload is not a PNG, JPEG, WebP or BMP image (content looks like " +
                            image::to_string(f) + ")");
  }
  image::DecodeOptions o;
  o.max_pixels = limits.max_image_pixels;
  try {
    image::RgbImage im = image::decode_image(data, s.image_bytes.size(), "the uploaded image", o);
    s.image_width = im.width;
    s.image_height = im.height;
  } catch (const Error& e) {
    throw ApiError(415, e.what());
  }
  s.image_format = image::to_string(f);
  for (char& c : s.image_format) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

Submission parse_submission(const httplib::Request& req, const SubmissionLimits& limits) {
  Submission s;
  nlohmann::json params;
  if (req.is_multipart_form_data()) {
    if (!req.has_file("image")) throw ApiError(400, "the form has no 'image' file part");
    const auto img = req.get_file_value("image");
    s.image_bytes = img.content;
    s.image_name = clean_name(img.filename);
    if (req.has_file("params")) {
      params = parse_json_text(req.get_file_value("params").content, "the 'params' part");
    } else {
      params = nlohmann::json::object();
    }
  } else {
    const std::string type = req.get_header_value("Content-Type");
    if (type.find("application/json") == std::string::npos) {
      throw ApiError(415,
                     "send multipart/form-data (image + params) or application/json (with "
                     "base64 image), not '" +
                         type.substr(0, 100) + "'");
    }
    params = parse_json_text(req.body, "the request body");
    if (!params.contains("image") || !params["image"].is_string()) {
      throw ApiError(400, "the JSON body needs 'image': the image as base64 (or a data: URL)");
    }
    std::string b64 = params["image"].get<std::string>();
    if (b64.rfind("data:", 0) == 0) {
      const auto comma = b64.find(',');
      if (comma == std::string::npos || b64.substr(0, comma).find(";base64") == std::string::npos) {
        throw ApiError(400, "the image data: URL must be base64 encoded");
      }
      b64 = b64.substr(comma + 1);
    }
    if (b64.size() > limits.max_image_bytes / 3 * 4 + 8) {
      throw ApiError(413, "the image is too large (at most " +
                              std::to_string(limits.max_image_bytes) + " bytes)");
    }
    auto bytes = base64_decode(b64);
    if (!bytes) throw ApiError(400, "'image' is not valid base64");
    s.image_bytes = std::move(*bytes);
    if (params.contains("image_name")) {
      if (!params["image_name"].is_string()) throw ApiError(400, "image_name must be a string");
      s.image_name = clean_name(params["image_name"].get<std::string>());
    }
    params.erase("image");
    params.erase("image_name");
  }
  s.params = parse_job_params(params, limits.params);
  check_image(s, limits);
  return s;
}

}  // namespace i2v::server
