// libFuzzer target: the engine end to end without N-API (native/core/engine.h: the same code the addon runs,
// with its worker thread). One or two streams at a rate the TS layer accepts, 1 or 2 channels, each with a
// recording, fed a random program of pushes of odd sizes (0..2000 bytes of fuzzer data), large muted pushes
// (up to ~4 MB, only counted), mute/unmute/exclude/include toggles in any order, then closed (by close() or by
// Engine::stop()). The queue bound is larger than all unmuted input, so nothing is dropped whatever the timing.
// Model per stream: the recording is the concatenation of the unmuted bytes; the clock counts every pushed
// byte, so closed.endMs = startedAtMs + floor(all bytes / frame bytes) * 1000 / rate. Checks: exactly one
// `closed` per stream with those values and overflowBytes 0, no error events, the file's 44-byte header (every
// field) and its data.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "../core/engine.h"
#include "../dsp/wav.h"
#include "fuzz_input.h"

namespace {

std::string tmpDir() {
  static std::string dir = [] {
    char tmpl[] = "/tmp/meetcore-fuzz-engine-XXXXXX";
    const char* d = mkdtemp(tmpl);
    if (!d) std::abort();
    return std::string(d);
  }();
  return dir;
}

std::vector<uint8_t> readFile(const std::string& path) {
  std::vector<uint8_t> out;
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return out;
  uint8_t buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
  ::close(fd);
  return out;
}

uint32_t le32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }
uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

struct StreamModel {
  std::shared_ptr<meetcore::Stream> stream;
  std::string path;
  std::vector<uint8_t> recorded;  // unmuted bytes
  uint64_t total = 0;             // every pushed byte
  bool muted = false;
  bool excluded = false;
  uint32_t rate = 0;
  uint16_t channels = 0;
  double startedAtMs = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int kRates[] = {8000, 16000, 24000, 32000, 44100, 48000};
  static uint64_t counter = 0;
  static const std::vector<uint8_t> zeros(1 << 22, 0);
  meetcore_fuzz::Input in(data, size);
  std::mutex mu;
  std::vector<meetcore::Event> events;
  meetcore::EngineConfig config;
  config.threads = 1;
  config.statsIntervalMs = static_cast<int>(in.range(50, 1000));
  config.overlapMinMs = static_cast<int>(in.range(50, 1000));
  meetcore::Engine engine(config, [&](meetcore::EventBatch& b) {
    std::lock_guard<std::mutex> lock(mu);
    for (auto& e : b) events.push_back(std::move(e));
    return true;
  });
  const int nStreams = 1 + (in.u8() & 1);
  std::vector<StreamModel> streams(nStreams);
  for (int i = 0; i < nStreams; i++) {
    meetcore::StreamConfig c;
    c.meetingId = "m";
    c.participantId = "p" + std::to_string(i);
    c.sampleRate = kRates[in.u8() % 6];
    c.channels = 1 + (in.u8() & 1);
    c.groupSeconds = 0.5 + (in.u8() % 10) * 0.5;
    c.segments = in.u8() & 1;
    c.startedAtMs = (in.u8() & 1) ? 1.7e12 + in.u32() : in.u32();
    c.maxQueueMs = 10000;  // ≥ 160,000 bytes: more than all unmuted input below
    c.excluded = in.u8() & 1;
    streams[i].excluded = c.excluded;
    streams[i].rate = static_cast<uint32_t>(c.sampleRate);
    streams[i].channels = static_cast<uint16_t>(c.channels);
    streams[i].startedAtMs = c.startedAtMs;
    streams[i].path = tmpDir() + "/r" + std::to_string(counter++) + ".wav";
    c.recordingPath = streams[i].path;
    streams[i].stream = engine.open(c);
  }
  size_t unmutedPushed = 0;
  uint8_t buf[2000];
  while (!in.empty()) {
    const uint8_t op = in.u8();
    StreamModel& s = streams[(op >> 7) % nStreams];
    switch (op & 7) {
      case 0: case 1: case 2: {
        size_t n = (op & 8) ? in.range(0, 2000) : in.range(0, 9);
        if (!s.muted && unmutedPushed + n > 120000) n = 0;
        n = in.bytes(buf, n);
        FUZZ_CHECK(s.stream->push(buf, n) == meetcore::PushResult::kOk);
        s.total += n;
        if (!s.muted) {
          s.recorded.insert(s.recorded.end(), buf, buf + n);
          unmutedPushed += n;
        }
        break;
      }
      case 3:
        if (s.muted) {  // a large muted push: only counted (nothing is copied while muted)
          const size_t n = in.range(0, static_cast<uint32_t>(zeros.size()));
          FUZZ_CHECK(s.stream->push(zeros.data(), n) == meetcore::PushResult::kOk);
          s.total += n;
        }
        break;
      case 4:
        s.muted = !s.muted;
        s.stream->setMuted(s.muted);
        break;
      case 5:
        s.excluded = !s.excluded;
        s.stream->setExcluded(s.excluded);
        break;
      case 6:
        s.stream->setMuted(s.muted);  // a repeated state: no effect
        break;
      case 7:
        if (op & 0x40) usleep(in.u8() % 16 * 100);  // let the worker catch up mid-program sometimes
        break;
    }
  }
  if (in.u8() & 1) {
    for (auto& s : streams) s.stream->requestClose();
  }
  // stop() hands back the final `closed` events (also delivered) and anything a refused delivery kept (none
  // here: this delivery never refuses): add only what was not delivered.
  meetcore::EventBatch rest = engine.stop();
  std::lock_guard<std::mutex> lock(mu);
  for (auto& e : rest) {
    bool seen = false;
    for (const auto& d : events) seen = seen || (d.type == e.type && d.stream == e.stream);
    if (!seen) events.push_back(std::move(e));
  }
  for (auto& s : streams) {
    const meetcore::Event* closed = nullptr;
    int nClosed = 0;
    for (const auto& e : events) {
      FUZZ_CHECK(e.type != meetcore::Event::kError);
      if (e.type == meetcore::Event::kClosed && e.stream->id == s.stream->id()) {
        closed = &e;
        nClosed++;
      }
    }
    FUZZ_CHECK(nClosed == 1);
    FUZZ_CHECK(closed->overflowBytes == 0);
    FUZZ_CHECK(closed->recordedBytes == s.recorded.size());
    const std::vector<uint8_t> file = readFile(s.path);
    ::unlink(s.path.c_str());
    FUZZ_CHECK(file.size() == meetcore::kWavHeaderBytes + s.recorded.size());
    const uint8_t* h = file.data();
    const uint32_t dataBytes = static_cast<uint32_t>(s.recorded.size());
    FUZZ_CHECK(std::memcmp(h, "RIFF", 4) == 0 && std::memcmp(h + 8, "WAVEfmt ", 8) == 0 && std::memcmp(h + 36, "data", 4) == 0);
    FUZZ_CHECK(le32(h + 4) == 36 + dataBytes && le32(h + 16) == 16 && le16(h + 20) == 1 && le32(h + 40) == dataBytes);
    FUZZ_CHECK(le16(h + 22) == s.channels && le32(h + 24) == s.rate);
    FUZZ_CHECK(le32(h + 28) == s.rate * s.channels * 2u && le16(h + 32) == s.channels * 2u && le16(h + 34) == 16);
    FUZZ_CHECK(s.recorded.empty() || std::memcmp(h + meetcore::kWavHeaderBytes, s.recorded.data(), s.recorded.size()) == 0);
    const uint64_t frames = s.total / (s.channels * 2u);
    FUZZ_CHECK(closed->endMs == s.startedAtMs + static_cast<double>(frames) * 1000.0 / s.rate);
  }
  return 0;
}
