// What the job runner drives: something that validates and runs a generation request. The real
// one wraps the loaded I2VGenXLPipeline (the model is loaded once, at server start); tests can
// wrap it to inject failures.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "i2v/pipeline/i2v_pipeline.h"
#include "i2v/server/memory_report.h"

namespace i2v::server {

class VideoGenerator {
 public:
  virtual ~VideoGenerator() = default;
  // ConfigError naming the parameter when the model cannot take the request.
  virtual void validate(const pipeline::GenerationRequest& r) const = 0;
  virtual pipeline::GenerationResult generate(const pipeline::GenerationRequest& r,
                                              const pipeline::GenerationHooks& hooks) = 0;
  // {"model": ..., "precision": ..., "device": ...} for /api/system and metadata.
  virtual nlohmann::json describe() const = 0;
  virtual ModelFacts facts() const = 0;
};

class PipelineGenerator : public VideoGenerator {
 public:
  PipelineGenerator(const std::string& model, const pipeline::PipelineOptions& options);
  void validate(const pipeline::GenerationRequest& r) const override;
  pipeline::GenerationResult generate(const pipeline::GenerationRequest& r,
                                      const pipeline::GenerationHooks& hooks) override;
  nlohmann::json describe() const override;
  ModelFacts facts() const override { return facts_; }

 private:
  std::string model_;
  double load_seconds_ = 0;  // before pipe_: its initializer sets this
  pipeline::I2VGenXLPipeline pipe_;
  ModelFacts facts_;
};

}  // namespace i2v::server
