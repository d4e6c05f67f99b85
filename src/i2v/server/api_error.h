// An error the HTTP API answers with a 4xx/5xx status and a JSON body {"error": message}.
#pragma once

#include <string>

#include "i2v/error.h"

namespace i2v::server {

class ApiError : public Error {
 public:
  ApiError(int status, const std::string& message) : Error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

}  // namespace i2v::server
