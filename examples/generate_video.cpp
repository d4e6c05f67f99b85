// The i2v library in one program: image + prompt -> video, with progress and a memory estimate.
//   generate_video MODEL_DIR IMAGE "PROMPT" OUT.mp4
#include <cstdio>

#include "i2v/i2v.h"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s MODEL_DIR IMAGE PROMPT OUT.mp4\n", argv[0]);
    return 2;
  }
  try {
    i2v::ModelOptions model;
    model.model = argv[1];
    i2v::Generator generator = i2v::Generator::open(model);

    i2v::Request request;
    request.image = i2v::Image::from_file(argv[2]);
    request.prompt = argv[3];
    request.width = request.height = 64;
    request.frames = 4;
    request.steps = 3;
    const i2v::Estimate plan = generator.estimate(request);
    std::printf("plan %s, predicted peak %lld bytes\n", plan.plan.c_str(),
                static_cast<long long>(plan.predicted_peak_bytes));

    i2v::Callbacks callbacks;
    callbacks.on_step = [](const i2v::Progress& p) {
      std::printf("step %d/%d, %.2f s/step\n", p.step, p.total, p.seconds_per_step);
    };
    const i2v::Result result = generator.generate(request, callbacks);
    std::printf("wrote %s (seed %lld)\n", i2v::save_video(result, argv[4]).c_str(),
                static_cast<long long>(result.seed));
  } catch (const i2v::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
