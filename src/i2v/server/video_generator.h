// What the job runner drives: the library's Generator (i2v/i2v.h) behind a small interface, so
// that tests can wrap it to inject failures. The model is loaded once, at server start.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "i2v/i2v.h"

namespace i2v::server {

class VideoGenerator {
 public:
  virtual ~VideoGenerator() = default;
  // ConfigError naming the parameter when the model cannot take the request.
  virtual void validate(const Request& r) const = 0;
  // The plan the request would run with (the library's one plan policy).
  virtual Estimate estimate(const Request& r) const = 0;
  virtual Result generate(const Request& r, const Callbacks& callbacks) = 0;
  // {"model": ..., "precision": ..., "device": ...} for /api/system and metadata.
  virtual nlohmann::json describe() const = 0;
};

class LibraryGenerator : public VideoGenerator {
 public:
  explicit LibraryGenerator(const ModelOptions& options) : generator_(Generator::open(options)) {}
  void validate(const Request& r) const override { generator_.validate(r); }
  Estimate estimate(const Request& r) const override { return generator_.estimate(r); }
  Result generate(const Request& r, const Callbacks& callbacks) override {
    return generator_.generate(r, callbacks);
  }
  nlohmann::json describe() const override {
    return nlohmann::json::parse(generator_.describe_json());
  }

 private:
  Generator generator_;
};

}  // namespace i2v::server
