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

struct Encoder {
  AVFormatContext* fmt = nullptr;
  AVCodecContext* ctx = nullptr;
  AVStream* stream = nullptr;
  AVFrame* frame = nullptr;
  AVPacket* pkt = nullptr;
  SwsContext* sws = nullptr;
  bool opened = false;
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
};

void drain(Encoder& e, const fs::path& out, bool flush) {
  check_av(avcodec_send_frame(e.ctx, flush ? nullptr : e.frame), out, "encode");
  while (true) {
    int rc = avcodec_receive_packet(e.ctx, e.pkt);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return;
    check_av(rc, out, "encode");
    av_packet_rescale_ts(e.pkt, e.ctx->time_base, e.stream->time_base);
    e.pkt->stream_index = e.stream->index;
    check_av(av_interleaved_write_frame(e.fmt, e.pkt), out, "write");
  }
}

void encode_with_libav(const at::Tensor& frames, const fs::path& tmp, const fs::path& out,
                       VideoFormat format, const VideoWriteOptions& o) {
  const int n = static_cast<int>(frames.size(0)), h = static_cast<int>(frames.size(1)),
            w = static_cast<int>(frames.size(2));
  av_log_set_level(AV_LOG_ERROR);  // encoders' statistics are not for the user's terminal
  Encoder e;
  const char* muxer = format == VideoFormat::Mp4    ? "mp4"
                      : format == VideoFormat::WebM ? "webm"
                                                    : "gif";
  check_av(avformat_alloc_output_context2(&e.fmt, nullptr, muxer, tmp.c_str()), out, "muxer");
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
  if (!codec) throw IoError("cannot write " + out.string() + ": this FFmpeg has no encoder for it");
  e.stream = avformat_new_stream(e.fmt, nullptr);
  e.ctx = avcodec_alloc_context3(codec);
  e.ctx->width = w;
  e.ctx->height = h;
  e.ctx->pix_fmt = pix;
  e.ctx->time_base = AVRational{1, o.fps};
  e.ctx->framerate = AVRational{o.fps, 1};
  e.ctx->gop_size = 12;
  if (e.fmt->oformat->flags & AVFMT_GLOBALHEADER) e.ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (format != VideoFormat::Gif) {
    av_opt_set(e.ctx->priv_data, "crf", std::to_string(o.crf).c_str(), 0);
    if (format == VideoFormat::Mp4) av_opt_set(e.ctx->priv_data, "preset", "medium", 0);
    if (format == VideoFormat::WebM) e.ctx->bit_rate = 0;
  }
  check_av(avcodec_open2(e.ctx, codec, nullptr), out, "open encoder");
  check_av(avcodec_parameters_from_context(e.stream->codecpar, e.ctx), out, "stream");
  e.stream->time_base = e.ctx->time_base;
  e.stream->avg_frame_rate = AVRational{o.fps, 1};
  e.stream->r_frame_rate = AVRational{o.fps, 1};
  check_av(avio_open(&e.fmt->pb, tmp.c_str(), AVIO_FLAG_WRITE), out, "open");
  e.opened = true;
  AVDictionary* mux_opts = nullptr;
  if (format == VideoFormat::Mp4) av_dict_set(&mux_opts, "movflags", "+faststart", 0);
  int rc = avformat_write_header(e.fmt, &mux_opts);
  av_dict_free(&mux_opts);
  check_av(rc, out, "header");

  e.frame = av_frame_alloc();
  e.pkt = av_packet_alloc();
  e.frame->format = pix;
  e.frame->width = w;
  e.frame->height = h;
  check_av(av_frame_get_buffer(e.frame, 0), out, "frame buffer");
  e.sws = sws_getContext(w, h, AV_PIX_FMT_RGB24, w, h, pix, SWS_BICUBIC | SWS_ACCURATE_RND, nullptr,
                         nullptr, nullptr);
  if (!e.sws) throw IoError("cannot write " + out.string() + ": no pixel format conversion");
  for (int i = 0; i < n; ++i) {
    check_av(av_frame_make_writable(e.frame), out, "frame");
    const uint8_t* src[1] = {frames[i].data_ptr<uint8_t>()};
    int stride[1] = {w * 3};
    sws_scale(e.sws, src, stride, 0, h, e.frame->data, e.frame->linesize);
    e.frame->pts = i;
    drain(e, out, false);
  }
  drain(e, out, true);
  check_av(av_write_trailer(e.fmt), out, "trailer");
  check_av(avio_closep(&e.fmt->pb), out, "close");
  e.opened = false;
}

void write_png_folder(const at::Tensor& frames, const fs::path& dir, const fs::path& out) {
  fs::create_directories(dir);
  const int n = static_cast<int>(frames.size(0)), h = static_cast<int>(frames.size(1)),
            w = static_cast<int>(frames.size(2));
  for (int i = 0; i < n; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "frame_%05d.png", i);
    if (!stbi_write_png((dir / name).c_str(), w, h, 3, frames[i].data_ptr<uint8_t>(), w * 3)) {
      throw IoError("cannot write " + (out / name).string() + " (disk full or unwritable?)");
    }
  }
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

void write_video(const at::Tensor& input, const fs::path& out, const VideoWriteOptions& o) {
  if (!input.defined() || input.dim() != 4 || input.size(3) != 3 ||
      input.scalar_type() != at::kByte || input.size(0) < 1 || input.size(1) < 2 ||
      input.size(2) < 2) {
    throw ShapeError("video frames must be a uint8 (F, H, W, 3) tensor with H, W >= 2");
  }
  if (o.fps < 1 || o.fps > 240) throw ConfigError("fps must be between 1 and 240");
  const VideoFormat format = format_from_path(out);
  if (fs::exists(out) && !o.overwrite) {
    throw IoError(out.string() + " already exists (pass --overwrite to replace it)");
  }
  at::Tensor frames = input.to(at::kCPU).contiguous();
  if (format != VideoFormat::PngFolder && format != VideoFormat::Gif &&
      (frames.size(1) % 2 || frames.size(2) % 2)) {
    // yuv420p subsamples chroma 2x2: odd sizes get one black row / column.
    frames = at::constant_pad_nd(frames.permute({0, 3, 1, 2}).to(at::kFloat),
                                 {0, frames.size(2) % 2, 0, frames.size(1) % 2}, 0)
                 .permute({0, 2, 3, 1})
                 .to(at::kByte)
                 .contiguous();
  }
  fs::path tmp = out;
  tmp += ".partial-" + std::to_string(getpid());
  std::error_code ec;
  try {
    if (format == VideoFormat::PngFolder) {
      write_png_folder(frames, tmp, out);
    } else {
      encode_with_libav(frames, tmp, out, format, o);
    }
    if (fs::exists(out) && o.overwrite) fs::remove_all(out);
    fs::rename(tmp, out, ec);
    if (ec)
      throw IoError("cannot move the finished video to " + out.string() + ": " + ec.message());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
}

}  // namespace i2v::video
