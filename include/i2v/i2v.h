// i2v's public C++ API: one still image and a prompt -> a short video with I2VGen-XL.
//
//   i2v::ModelOptions m;  m.model = "ali-vilab/i2vgen-xl";  m.precision = "bf16";
//   i2v::Generator gen = i2v::Generator::open(m);
//   i2v::Request r;  r.image = i2v::Image::from_file("fox.png");  r.prompt = "a red fox";
//   i2v::Result res = gen.generate(r);
//   i2v::save_video(res, "fox.mp4");  // + fox.mp4.json (metadata)
//
// Everything here uses only the standard library; libtorch and the rest stay inside. Errors are
// thrown as the classes of i2v/error.h, each a sentence a user can act on.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "i2v/error.h"

namespace i2v {

// An 8-bit RGB picture, rows top to bottom, pixels interleaved (R, G, B).
struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3

  // PNG, JPEG, WebP or BMP. IoError / FormatError naming the file.
  static Image from_file(const std::string& path);
  // The same from bytes in memory; `name` names them in errors.
  static Image from_bytes(const void* data, size_t size, const std::string& name = "the image");
};

// Where and how the model runs. Fixed for the Generator's life.
struct ModelOptions {
  std::string model;               // diffusers folder or cached repo id (ORG/NAME); required
  std::string precision = "auto";  // auto | fp32 | bf16 | fp16 (fp16: CUDA only)
  std::string variant = "auto";    // weight files: auto | none | fp16 | bf16
  std::string device = "cpu";      // cpu | cuda | cuda:N
  // Memory each generation may use (bytes); 0 = what the device has free, 10 % kept spare.
  int64_t memory_budget_bytes = 0;
  // Make CPU allocations beyond the budget fail (moving down the fallback ladder) instead of
  // only planning for it. Needs memory_budget_bytes.
  bool enforce_budget = false;
  // CPU, bf16: keep the UNet's and the VAE's packed weights (the packed plan) between generate
  // calls, so that a reused Generator (a server, a loop) packs them once, at its first
  // generation, and runs the packed plan at any step count (the first call pays the packing, each
  // later one gains). They take the place of the models' mapped file pages (about their weight
  // bytes held between calls). false: freed after each generation, and packed only where one
  // generation's steps repay it (8 or more): what a single generation wants.
  bool keep_packed_weights = true;
};

// Overrides of the chosen execution plan; -1 / empty = the plan's own value.
struct PlanOverrides {
  int64_t frame_chunk = -1;     // rows of frames per-frame layers run at once
  int64_t temporal_chunk = -1;  // spatial positions temporal layers run at once
  bool sequential_cfg = false;  // unconditional and conditional UNet passes one after the other
  std::string residency;        // resident | on-demand | stream
  // Tiled VAE encode/decode, tile edge in pixels (0 = off). APPROXIMATE: the tiles are blended,
  // the frames differ from an untiled decode. Applies to every plan of the ladder.
  int64_t vae_tile = 0;
  double vae_tile_overlap = 0.25;
};

// A LoRA adapter for one generation: a safetensors file in the diffusers/PEFT, attention-
// processor or kohya layout (UNet and text-encoder weights) and its multiplier; the scale of each
// module is multiplier * alpha / rank (alpha = rank when the file has none).
struct Lora {
  std::string path;
  double scale = 1.0;
};

// One generation.
struct Request {
  Image image;
  std::string prompt, negative_prompt;
  int width = 512, height = 512;  // multiples of the VAE factor (8)
  int frames = 16;
  int fps = 8;  // frame rate of the video and the UNet's fps condition
  int steps = 50;
  double guidance = 9.0;      // <= 1 disables classifier-free guidance
  int64_t seed = -1;          // -1: drawn (the drawn seed is in the result)
  int decode_chunk_size = 1;  // frames per VAE decode call (lowered on out-of-memory)
  // Videos longer than the model's 16-frame clips: at every step the UNet runs on overlapping
  // windows of `window` frames, `window_stride` apart, and their predictions are fused per frame
  // with `window_fuse` weights (flat | pyramid), so memory is that of one window. APPROXIMATE
  // (the result says so). window: -1 = auto (16 when frames > 16), 0 = off (every frame at once:
  // exact, memory grows with the frames). shuffle_noise: FreeNoise's noise rescheduling.
  int window = -1;
  int window_stride = 4;
  std::string window_fuse = "pyramid";
  bool shuffle_noise = false;
  // auto (the fastest plan whose predicted peak fits the budget) | packed (CPU, bf16) | plain |
  // chunked | chunked+seqcfg | stream. The cheaper plans after it form the fallback ladder.
  std::string plan = "auto";
  PlanOverrides overrides;
  // LoRAs applied for this generation, summed in order. lora_mode: auto (merged into a copy of
  // the adapted weights; 8-bit weights and the stream plan unmerged) | merged | unmerged (each
  // layer adds its delta where it runs: works with every plan, 8-bit weights included). Both
  // modes are exact: W + scale * B * A in float32, rounded once.
  std::vector<Lora> loras;
  std::string lora_mode = "auto";
  // Replay a reference run: a safetensors file with initial_noise and vae_posterior_noise.
  std::string noise_file;
  // Write every intermediate tensor (the reference's names) to this safetensors file.
  std::string dump_file;
  // JSON-lines memory log (one line per step and stage); empty = none.
  std::string memory_log_file;
};

// The size names a front end offers: "256p" .. "1024p" -> square side in pixels; 0 if unknown.
int resolution_pixels(const std::string& name);
std::vector<std::string> resolution_names();

// The seed rule: a seed < 0 is drawn (0 .. 2^31-1); others are kept.
int64_t resolve_seed(int64_t seed);

// Ranges a request must respect. The library's are wide; a front end may narrow them.
struct Limits {
  int min_frames = 2, max_frames = 256;
  int min_fps = 1, max_fps = 240;
  int min_steps = 1, max_steps = 1000;
  double min_guidance = 0.0, max_guidance = 100.0;
  int min_side = 8, max_side = 4096;
  size_t max_prompt_bytes = 100000;
};
// ConfigError naming the first parameter out of range ("frames must be between 2 and 256 (got
// 1)"); the model-specific checks are Generator::validate's.
void check_limits(const Request& request, const Limits& limits);

struct Progress {
  int step = 0, total = 0;      // 1-based step just finished
  double seconds = 0;           // of this step
  double seconds_per_step = 0;  // mean so far
  double eta_seconds = 0;
  int64_t memory_bytes = 0;  // process RSS (CPU) or device memory in use (GPU)
};

struct Video;

struct Callbacks {
  std::function<void(const Progress&)> on_step;
  // A cheap look at frame 0 of the current prediction (no VAE run), every `preview_every` steps
  // and at the last one.
  std::function<void(int step, const Image& preview)> on_preview;
  int preview_every = 0;  // 0 = about 25 previews per generation
  // Polled between steps; true stops the generation with CancelledError.
  std::function<bool()> cancelled;
  // Streaming output: the final frames as soon as each VAE decode chunk is done, in order, with
  // the index of the first (feed a VideoFileWriter, or show them).
  std::function<void(int first_frame, const Video& frames)> on_frames;
  // false: Result.video stays empty and only on_frames sees the frames (a long video is never
  // held whole in memory).
  bool keep_frames = true;
};

// The memory plan of a request: what generate() would run.
struct Estimate {
  bool fits = false;
  std::string plan;  // the chosen plan (the cheapest when nothing fits)
  int64_t predicted_peak_bytes = 0;
  int64_t budget_bytes = 0;  // what it had to fit (0 = no limit)
  std::string message;       // why this plan; when nothing fits, settings that would
  std::string json;          // everything: candidates, stages, the ladder
};

struct Video {
  int frames = 0, width = 0, height = 0;
  std::vector<uint8_t> rgb;  // frames * height * width * 3
  Image frame(int index) const;
};

struct Result {
  Video video;
  int64_t seed = 0;
  int fps = 8;
  std::string plan, final_plan;  // planned, and the one the last step ran with
  // false when an approximate mode ran (tiled VAE, frame windows) or the weights are 8-bit
  bool exact = true;
  int64_t peak_memory_bytes = 0;
  // Every parameter, versions, timings, memory: what save writes. LoRAs under "loras" (file,
  // sha256, scale, layout, modules per component) and "lora_modes" (merged / unmerged per model).
  std::string metadata_json;
};

class Generator {
 public:
  // Loads the model (every component checked). ConfigError / IoError / FormatError / ShapeError.
  // Installs i2v's counting CPU allocator (process-wide, idempotent) for the memory log.
  static Generator open(const ModelOptions& options);
  Generator(Generator&&) noexcept;
  Generator& operator=(Generator&&) noexcept;
  ~Generator();

  // ConfigError naming the first parameter the model cannot take; LoRA files are read (cached)
  // and matched against the model here too (IoError / FormatError / ConfigError listing every
  // key that does not fit).
  void validate(const Request& request) const;
  // The plan generate() would choose, with its predicted peak, without running anything.
  Estimate estimate(const Request& request) const;
  // Runs one generation. Out-of-memory moves down the fallback ladder (redoing only the failing
  // step); OutOfMemoryError when the ladder ends; CancelledError after cancel().
  Result generate(const Request& request, const Callbacks& callbacks = {});
  // From any thread: the running generate() stops at the next step.
  void cancel();

  // {"model", "precision", "device", "threads", "weights_bytes", "load_seconds"} as JSON.
  std::string describe_json() const;

 private:
  struct Impl;
  explicit Generator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A sentence for the user about any exception: i2v's errors as they are; an allocation failure
// as out of memory with settings to try; a libtorch error without its C++ backtrace.
std::string error_message(const std::exception& e);

// The plan a Generator opened with `options` would choose for `request`, from the model's configs
// and file headers alone (nothing is loaded): what `i2v probe` shows.
Estimate estimate(const ModelOptions& options, const Request& request);

struct SaveOptions {
  bool overwrite = false;  // otherwise a free name is taken (fox_1.mp4 ...)
  int crf = 18;            // H.264 / VP9 quality
};
// Writes the video (.mp4 H.264, .webm VP9, .gif, or a folder of PNG frames) and, beside it,
// <path>.json with the result's metadata. Returns the path written. IoError when it cannot.
std::string save_video(const Result& result, const std::string& path,
                       const SaveOptions& options = {});
// A video saved while it is generated (streaming output): append() the frames Callbacks::on_frames
// gives, then finish() with the result. The file is written under a temporary name and appears,
// with its metadata beside it, only at finish(); a writer destroyed without finish() (an error,
// a cancel) leaves nothing. The path rules are save_video's; IoError / ConfigError likewise.
class VideoFileWriter {
 public:
  VideoFileWriter(const std::string& path, int fps, const SaveOptions& options = {});
  VideoFileWriter(VideoFileWriter&&) noexcept;
  ~VideoFileWriter();
  void append(const Video& frames);
  // Writes <path>.json from the result's metadata; returns the path written.
  std::string finish(const Result& result);
  const std::string& path() const;  // where the video will be (a free name unless overwrite)
  int frames_written() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// outputs_dir/video_YYYYMMDD_HHMMSS.mp4 (local time), with _n added when taken.
std::string new_output_path(const std::string& outputs_dir);

}  // namespace i2v
