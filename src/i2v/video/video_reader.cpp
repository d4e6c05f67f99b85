#include "i2v/video/video_reader.h"

#include <memory>
#include <vector>

#include "i2v/error.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
}

namespace i2v::video {
namespace {

std::string av_error(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

struct Input {
  AVFormatContext* format = nullptr;
  AVCodecContext* codec = nullptr;
  SwsContext* sws = nullptr;
  AVPacket* packet = nullptr;
  AVFrame* frame = nullptr;
  ~Input() {
    sws_freeContext(sws);
    av_frame_free(&frame);
    av_packet_free(&packet);
    avcodec_free_context(&codec);
    avformat_close_input(&format);
  }
};

}  // namespace

at::Tensor read_video_frames(const std::filesystem::path& path, int max_frames) {
  const std::string name = path.string();
  Input in;
  int rc = avformat_open_input(&in.format, name.c_str(), nullptr, nullptr);
  if (rc < 0) throw IoError("cannot open video " + name + ": " + av_error(rc));
  rc = avformat_find_stream_info(in.format, nullptr);
  if (rc < 0) throw FormatError("cannot read the streams of " + name + ": " + av_error(rc));
  const AVCodec* decoder = nullptr;
  const int stream = av_find_best_stream(in.format, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
  if (stream < 0 || !decoder) throw IoError(name + " has no video stream FFmpeg can decode");
  in.codec = avcodec_alloc_context3(decoder);
  avcodec_parameters_to_context(in.codec, in.format->streams[stream]->codecpar);
  rc = avcodec_open2(in.codec, decoder, nullptr);
  if (rc < 0) throw FormatError("cannot open the decoder of " + name + ": " + av_error(rc));
  in.packet = av_packet_alloc();
  in.frame = av_frame_alloc();

  std::vector<at::Tensor> frames;
  auto take = [&]() {  // every frame the decoder has ready
    while (max_frames <= 0 || static_cast<int>(frames.size()) < max_frames) {
      const int r = avcodec_receive_frame(in.codec, in.frame);
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
      if (r < 0) throw FormatError("cannot decode " + name + ": " + av_error(r));
      const int w = in.frame->width, h = in.frame->height;
      in.sws = sws_getCachedContext(in.sws, w, h, static_cast<AVPixelFormat>(in.frame->format), w,
                                    h, AV_PIX_FMT_RGB24, SWS_BICUBIC, nullptr, nullptr, nullptr);
      if (!in.sws) throw FormatError("cannot convert the frames of " + name + " to RGB");
      at::Tensor rgb = at::empty({h, w, 3}, at::kByte);
      uint8_t* dst[4] = {rgb.data_ptr<uint8_t>(), nullptr, nullptr, nullptr};
      int stride[4] = {3 * w, 0, 0, 0};
      sws_scale(in.sws, in.frame->data, in.frame->linesize, 0, h, dst, stride);
      frames.push_back(rgb);
      av_frame_unref(in.frame);
    }
  };
  bool done = false;
  while (!done && (max_frames <= 0 || static_cast<int>(frames.size()) < max_frames)) {
    rc = av_read_frame(in.format, in.packet);
    if (rc < 0) {  // end of file: drain the decoder
      avcodec_send_packet(in.codec, nullptr);
      done = true;
    } else {
      if (in.packet->stream_index == stream) {
        const int s = avcodec_send_packet(in.codec, in.packet);
        if (s < 0 && s != AVERROR(EAGAIN)) {
          av_packet_unref(in.packet);
          throw FormatError("cannot decode " + name + ": " + av_error(s));
        }
      }
      av_packet_unref(in.packet);
    }
    take();
  }
  if (frames.empty()) throw FormatError(name + " has no decodable frames");
  for (const auto& f : frames)
    if (f.sizes() != frames[0].sizes())
      throw FormatError(name + " changes its frame size mid-stream");
  return at::stack(frames);
}

}  // namespace i2v::video
