#include "i2v/video/video_writer.h"

#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>
}

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include "i2v/error.h"

namespace i2v::video {
namespace fs = std::filesystem;
namespace {

std::string av_error(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof buf);
  return buf;
}

void check_av(int rc, const fs::path& out, const std::string& what) {
  if (rc < 0) throw IoError("cannot write " + out.string() + " (" + what + "): " + av_error(rc));
}

}  // namespace

// One libav encoder + muxer writing to the temporary file.
struct VideoStreamWriter::Encoder {
  AVFormatContext* fmt = nullptr;
  AVCodecContext* ctx = nullptr;
  AVStream* stream = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* pkt = nullptr;
  SwsContext* sws = nullptr;
  bool opened = false;
  fs::path out;  // the final name, for messages
  int64_t next_pts = 0;

  ~Encoder() {
    if (sws) sws_freeContext(sws);
    if (frame) av_frame_free(&frame);
    if (pkt) av_packet_free(&pkt);
    if (ctx) avcodec_free_context(&ctx);
    if (fmt) {
      if (opened && fmt->pb) avio_closep(&fmt->pb);
      avformat_free_context(fmt);
    }
  }

  void drain(bool flush) {
    check_av(avcodec_send_frame(ctx, flush ? nullptr : frame), out, "encode");
    while (true) {
      int rc = avcodec_receive_packet(ctx, pkt);
      if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
      check_av(rc, out, "encode");
      av_packet_rescale_ts(pkt, ctx->time_base, stream->time_base);
      pkt->stream_index = stream->index;
      check_av(av_interleaved_write_frame(fmt, pkt), out, "write");
    }
  }

  void open(const fs::path& tmp, int w, int h, VideoFormat format, const VideoWriteOptions& o) {
    av_log_set_level(AV_LOG_ERROR);  // encoders' statistics are not for the user's terminal
    const char* muxer = format == VideoFormat::Mp4    ? "mp4"
                        : format == VideoFormat::WebM ? "webm"
                                                      : "gif";
    check_av(avformat_alloc_output_context2(&fmt, nullptr, muxer, tmp.c_str()), out, "muxer");
    const AVCodec* codec = nullptr;
    AVPixelFormat pix = AV_PIX_FMT_YUV420P;
    if (format == VideoFormat::Mp4) {
      codec = avcodec_find_encoder_by_name("libx264");
    } else if (format == VideoFormat::WebM) {
      codec = avcodec_find_encoder_by_name("libvpx-vp9");
      if (!codec) codec = avcodec_find_encoder_by_name("libvpx");
    } else {
      codec = avcodec_find_encoder(AV_CODEC_ID_GIF);
      pix = AV_PIX_FMT_RGB8;
    }
    if (!codec)
      throw IoError("cannot write " + out.string() + ": this FFmpeg has no encoder for it");
    stream = avformat_new_stream(fmt, nullptr);
    ctx = avcodec_alloc_context3(codec);
    ctx->width = w;
    ctx->height = h;
    ctx->pix_fmt = pix;
    ctx->time_base = AVRational{1, o.fps};
    ctx->framerate = AVRational{o.fps, 1};
    ctx->gop_size = 12;
    if (fmt->oformat->flags & AVFMT_GLOBALHEADER) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    if (format != VideoFormat::Gif) {
      av_opt_set(ctx->priv_data, "crf", std::to_string(o.crf).c_str(), 0);
      if (format == VideoFormat::Mp4) av_opt_set(ctx->priv_data, "preset", "medium", 0);
      if (format == VideoFormat::WebM) ctx->bit_rate = 0;
    }
    check_av(avcodec_open2(ctx, codec, nullptr), out, "open encoder");
    check_av(avcodec_parameters_from_context(stream->codecpar, ctx), out, "stream");
    stream->time_base = ctx->time_base;
    stream->avg_frame_rate = AVRational{o.fps, 1};
    stream->r_frame_rate = AVRational{o.fps, 1};
    check_av(avio_open(&fmt->pb, tmp.c_str(), AVIO_FLAG_WRITE), out, "open");
    opened = true;
    AVDictionary* mux_opts = nullptr;
    if (format == VideoFormat::Mp4) av_dict_set(&mux_opts, "movflags", "+faststart", 0);
    int rc = avformat_write_header(fmt, &mux_opts);
    av_dict_free(&mux_opts);
    check_av(rc, out, "header");

    frame = av_frame_alloc();
    pkt = av_packet_alloc();
    frame->format = pix;
    frame->width = w;
    frame->height = h;
    check_av(av_frame_get_buffer(frame, 0), out, "frame buffer");
    sws = sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, pix, SWS_BICUBIC | SWS_ACCURATE_RND, nullptr,
                         nullptr, nullptr);
    if (!sws) throw IoError("cannot write " + out.string() + ": no pixel format conversion");
  }

  // frames: (n, H, W, 3) uint8, contiguous, at the encoder's size.
  void encode(const at::Tensor& frames) {
    const int w = ctx->width, h = ctx->height;
    for (int64_t i = 0; i < frames.size(0); ++i) {
      check_av(av_frame_make_writable(frame), out, "frame");
      const uint8_t* src[1] = {frames[i].data_ptr<uint8_t>()};
      int stride[1] = {w * 3};
      sws_scale(sws, src, stride, 0, h, frame->data, frame->linesize);
      frame->pts = next_pts++;
      drain(false);
    }
  }

  void close() {
    drain(true);
    check_av(av_write_trailer(fmt), out, "trailer");
    check_av(avio_closep(&fmt->pb), out, "close");
    opened = false;
  }
};

namespace {

void write_png_frames(const at::Tensor& frames, int64_t first, const fs::path& dir,
                      const fs::path& out) {
  const int h = static_cast<int>(frames.size(1)), w = static_cast<int>(frames.size(2));
  for (int64_t i = 0; i < frames.size(0); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "frame_%05d.png", static_cast<int>(first + i));
    if (!stbi_write_png((dir / name).c_str(), w, h, 3, frames[i].data_ptr<uint8_t>(), w * 3)) {
      throw IoError("cannot write " + (out / name).string() + " (disk full or unwritable?)");
    }
  }
}

// (n, H, W, 3) uint8 on the CPU, contiguous; odd sizes padded with a black row / column where
// the format subsamples chroma 2x2 (yuv420p).
at::Tensor prepare_frames(const at::Tensor& input, VideoFormat format) {
  if (!input.defined() || input.dim() != 4 || input.size(3) != 3 ||
      input.scalar_type() != at::kByte || input.size(0) < 1 || input.size(1) < 2 ||
      input.size(2) < 2) {
    throw ShapeError("video frames must be a uint8 (F, H, W, 3) tensor with H, W >= 2");
  }
  at::Tensor frames = input.to(at::kCPU).contiguous();
  if (format != VideoFormat::PngFolder && format != VideoFormat::Gif &&
      (frames.size(1) % 2 || frames.size(2) % 2)) {
    frames = at::constant_pad_nd(frames.permute({0, 3, 1, 2}).to(at::kFloat),
                                 {0, frames.size(2) % 2, 0, frames.size(1) % 2}, 0)
                 .permute({0, 2, 3, 1})
                 .to(at::kByte)
                 .contiguous();
  }
  return frames;
}

}  // namespace

VideoFormat format_from_path(const fs::path& path) {
  std::string ext = path.extension().string();
  for (auto& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (ext == ".mp4") return VideoFormat::Mp4;
  if (ext == ".webm") return VideoFormat::WebM;
  if (ext == ".gif") return VideoFormat::Gif;
  if (ext.empty() || fs::is_directory(path)) return VideoFormat::PngFolder;
  throw ConfigError("unsupported output '" + path.string() +
                    "': use .mp4, .webm, .gif or a folder name for PNG frames");
}

fs::path unique_output_path(const fs::path& path) {
  // Free when neither the video nor its companions (metadata, thumbnail) exist.
  auto taken = [](const fs::path& v) {
    fs::path meta = v, thumb = v;
    meta += ".json";
    thumb.replace_extension(".thumb.jpg");
    return fs::exists(v) || fs::exists(meta) || fs::exists(thumb);
  };
  if (!taken(path)) return path;
  const fs::path stem = path.parent_path() / path.stem();
  const std::string ext = path.extension().string();
  for (int i = 1;; ++i) {
    fs::path candidate = stem;
    candidate += "_" + std::to_string(i) + ext;
    if (!taken(candidate)) return candidate;
  }
}

VideoStreamWriter::VideoStreamWriter(const fs::path& out, const VideoWriteOptions& o)
    : out_(out), options_(o), format_(format_from_path(out)) {
  if (o.fps < 1 || o.fps > 240) throw ConfigError("fps must be between 1 and 240");
  if (fs::exists(out) && !o.overwrite) {
    throw IoError(out.string() + " already exists (pass --overwrite to replace it)");
  }
  tmp_ = out;
  tmp_ += ".partial-" + std::to_string(getpid());
}

VideoStreamWriter::~VideoStreamWriter() {
  if (finished_) return;
  encoder_.reset();  // closes the file before it is removed
  std::error_code ec;
  fs::remove_all(tmp_, ec);
}

void VideoStreamWriter::append(const at::Tensor& input) {
  if (finished_) throw IoError("cannot append to " + out_.string() + ": already finished");
  const at::Tensor frames = prepare_frames(input, format_);
  if (written_ == 0) {
    height_ = frames.size(1);
    width_ = frames.size(2);
    if (format_ == VideoFormat::PngFolder) {
      fs::create_directories(tmp_);
    } else {
      encoder_ = std::make_unique<Encoder>();
      encoder_->out = out_;
      encoder_->open(tmp_, static_cast<int>(width_), static_cast<int>(height_), format_, options_);
    }
  } else if (frames.size(1) != height_ || frames.size(2) != width_) {
    throw ShapeError("every frame of " + out_.string() + " must be " + std::to_string(width_) +
                     "x" + std::to_string(height_));
  }
  if (encoder_) {
    encoder_->encode(frames);
  } else {
    write_png_frames(frames, written_, tmp_, out_);
  }
  written_ += frames.size(0);
}

void VideoStreamWriter::finish() {
  if (finished_) return;
  if (written_ == 0) throw IoError("cannot write " + out_.string() + ": no frames");
  if (encoder_) encoder_->close();
  encoder_.reset();
  std::error_code ec;
  if (fs::exists(out_) && options_.overwrite) fs::remove_all(out_);
  fs::rename(tmp_, out_, ec);
  if (ec) throw IoError("cannot move the finished video to " + out_.string() + ": " + ec.message());
  finished_ = true;
}

void write_video(const at::Tensor& frames, const fs::path& out, const VideoWriteOptions& o) {
  prepare_frames(frames, VideoFormat::PngFolder);  // ShapeError before anything is created
  VideoStreamWriter writer(out, o);
  writer.append(frames);
  writer.finish();
}

}  // namespace i2v::video
