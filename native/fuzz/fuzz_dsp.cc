// libFuzzer target: arbitrary bytes as PCM (rate/channels/group from the first bytes) through the analysis,
// in arbitrary chunkings, plus the overlap timeline. Build: cmake -DMEETCORE_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <vector>

#include "../dsp/analysis.h"
#include "../dsp/overlap.h"

namespace {
class Sink : public meetcore::AnalysisSink {
 public:
  explicit Sink(meetcore::MeetingTimeline& t) : t_(t) {}
  void onFrame(const meetcore::FrameResult& f) override { t_.onFrame(1, f.slot, f.speaking, out_); }
  void onStats(const meetcore::StatsSnapshot&) override {}
  void onSegment(uint32_t, double, double, std::vector<uint8_t>&& wav) override { bytes_ += wav.size(); }
  meetcore::MeetingTimeline& t_;
  std::vector<meetcore::OverlapReport> out_;
  size_t bytes_ = 0;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  static const int kRates[] = {8000, 16000, 24000, 32000, 44100, 48000};
  const int rate = kRates[data[0] % 6];
  const int channels = 1 + (data[1] & 1);
  const double group = 0.5 + (data[2] % 10) * 0.5;
  const size_t chunk = 1 + data[3];
  data += 4;
  size -= 4;
  meetcore::MeetingTimeline timeline(500);
  timeline.addStream(1, "a");
  Sink sink(timeline);
  meetcore::StreamAnalysis a(rate, channels, 1e12, group, true, 250);
  std::vector<int16_t> buf;
  const size_t frameBytes = 2 * channels;
  for (size_t off = 0; off + frameBytes <= size; off += chunk * frameBytes) {
    size_t frames = std::min(chunk, (size - off) / frameBytes);
    buf.resize(frames * channels);
    std::memcpy(buf.data(), data + off, frames * frameBytes);
    if (data[off] == 0xff) a.skip(frames, true, sink);
    else a.feed(buf.data(), frames, sink);
  }
  a.finish(sink);
  timeline.removeStream(1, sink.out_);
  return 0;
}
