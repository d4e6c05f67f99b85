// Turning a POST /api/jobs body into validated parameters and a checked image. Two shapes:
//  - multipart/form-data: a file part "image" and a text part "params" (a JSON object);
//  - application/json: the parameters with "image" as base64 (a data: URL is accepted) and an
//    optional "image_name".
// Every problem is an ApiError (400 malformed, 413 too large, 415 not an image we read).
#pragma once

#include <string>

#include <httplib.h>

#include "i2v/server/job_params.h"

namespace i2v::server {

struct Submission {
  JobParams params;
  std::string image_bytes, image_name, image_format;
  int image_width = 0, image_height = 0;
};

struct SubmissionLimits {
  size_t max_image_bytes = 20u << 20;
  int64_t max_image_pixels = 40LL * 1000 * 1000;
  ParamLimits params;
};

Submission parse_submission(const httplib::Request& req, const SubmissionLimits& limits);

// The image checks alone (content sniffing, full decode): fills format and size.
void check_image(Submission& s, const SubmissionLimits& limits);

}  // namespace i2v::server
