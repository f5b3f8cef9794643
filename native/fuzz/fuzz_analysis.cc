// libFuzzer target: StreamAnalysis (native/dsp/analysis.cc) at any sample rate 8000..48000 Hz, 1 or 2
// channels, any start time (also out of range: 1e300, negative, NaN are clamped), fed a random program of
// sample runs (silence, noise, tones, clipping, raw fuzzer bytes) and skips (mute gaps), twice: once with each
// run in one feed() call and once cut into random chunks (1 sample frame up to a few frames past a 10 ms
// frame). The two must produce identical frames, stats and segments, and both must match a model:
//  - segments: the mono downmix of every fed sample, in order, cut every round(groupSeconds * rate) samples
//    (a last partial one only when ≥ rate / 2 samples), each a valid mono WAV, start/end on the stream clock
//    startedAtMs + sampleIndex * 1000 / rate (skipped samples count);
//  - frames: one per whole 10 ms frame (rate / 100 samples) between skips (a skip abandons the partial frame),
//    startMs on the stream clock, slot = floor(startMs / 10), slots strictly increasing when rate % 100 == 0;
//  - stats: finite, times non-decreasing, ratios in range.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../dsp/analysis.h"
#include "../dsp/wav.h"
#include "fuzz_input.h"

namespace {

struct Recorder : meetcore::AnalysisSink {
  std::vector<meetcore::FrameResult> frames;
  std::vector<meetcore::StatsSnapshot> stats;
  struct Segment { uint32_t index; double startMs, endMs; std::vector<uint8_t> wav; };
  std::vector<Segment> segments;
  void onFrame(const meetcore::FrameResult& f) override { frames.push_back(f); }
  void onStats(const meetcore::StatsSnapshot& s) override { stats.push_back(s); }
  void onSegment(uint32_t index, double startMs, double endMs, std::vector<uint8_t>&& wav) override {
    segments.push_back(Segment{index, startMs, endMs, std::move(wav)});
  }
};

struct Op {
  bool skip;
  bool muted;
  uint64_t frames;
  size_t offset;  // into the sample buffer (feed)
};

uint32_t le32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }
uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

bool same(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meetcore_fuzz::Input in(data, size);
  const int rate = static_cast<int>(in.range(8000, 48000));
  const int channels = 1 + (in.u8() & 1);
  double startedAtMs;
  switch (in.u8() % 6) {
    case 0: startedAtMs = 1e300; break;
    case 1: startedAtMs = -static_cast<double>(in.u32()); break;
    case 2: startedAtMs = std::nan(""); break;
    case 3: startedAtMs = meetcore::kMaxStartedAtMs - in.u16(); break;
    default: startedAtMs = 1.7e12 + in.u32() + in.u8() / 256.0; break;
  }
  const double groupSeconds = 0.5 + in.u8() * (4.5 / 255);
  const bool segments = in.u8() & 1;
  const int statsIntervalMs = static_cast<int>(in.range(50, 1000));

  // The program: runs of samples and skips, at most 1.5 s of fed audio.
  const uint64_t maxFed = static_cast<uint64_t>(rate) * 3 / 2;
  std::vector<int16_t> pcm;
  std::vector<Op> ops;
  uint64_t fed = 0;
  uint32_t rng = 0x9e3779b9u ^ in.u32();
  while (!in.empty() && fed < maxFed && ops.size() < 64) {
    const uint8_t kind = in.u8();
    if ((kind & 7) == 7) {  // a skip: 0 frames up to ~3 min (past every window), muted or not
      const uint64_t frames = (kind & 8) ? in.u32() % (static_cast<uint64_t>(rate) * 200) : in.range(0, 2000);
      ops.push_back(Op{true, (kind & 16) != 0, frames, 0});
      continue;
    }
    uint64_t frames = (kind & 8) ? in.range(1, static_cast<uint32_t>(rate / 2)) : in.range(1, 1000);
    if (frames > maxFed - fed) frames = maxFed - fed;
    const size_t at = pcm.size();
    pcm.resize(at + frames * channels);
    const double amp = (kind & 0x40) ? 40000.0 : 32767.0 * std::pow(10.0, -static_cast<double>(in.u8() % 90) / 20);
    const double freq = 50 + in.u16() % 8000;
    for (size_t i = 0; i < frames * channels; i++) {
      double v;
      switch ((kind >> 4) & 3) {
        case 0: v = 0; break;
        case 1: rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5; v = amp * (static_cast<int32_t>(rng) / 2147483648.0); break;
        case 2: v = amp * std::sin(2 * M_PI * freq * static_cast<double>(i / channels) / rate); break;
        default: v = static_cast<int16_t>(in.u16()); break;
      }
      pcm[at + i] = static_cast<int16_t>(v > 32767 ? 32767 : v < -32768 ? -32768 : v);
    }
    ops.push_back(Op{false, false, frames, at});
    fed += frames;
  }

  // Run 1: each run in one call. Run 2: random chunks.
  Recorder one, many;
  meetcore::StreamAnalysis a1(rate, channels, startedAtMs, groupSeconds, segments, statsIntervalMs);
  meetcore::StreamAnalysis a2(rate, channels, startedAtMs, groupSeconds, segments, statsIntervalMs);
  const size_t fs = static_cast<size_t>(rate / 100);
  uint32_t chunkRng = rng | 1;
  for (const Op& op : ops) {
    if (op.skip) {
      a1.skip(op.frames, op.muted, one);
      a2.skip(op.frames, op.muted, many);
      continue;
    }
    a1.feed(pcm.data() + op.offset, op.frames, one);
    for (uint64_t done = 0; done < op.frames;) {
      chunkRng ^= chunkRng << 13; chunkRng ^= chunkRng >> 17; chunkRng ^= chunkRng << 5;
      uint64_t n = 1 + chunkRng % (fs + 7);
      if (n > op.frames - done) n = op.frames - done;
      a2.feed(pcm.data() + op.offset + done * channels, n, many);
      done += n;
    }
  }
  a1.finish(one);
  a2.finish(many);

  // Identical outputs.
  FUZZ_CHECK(one.frames.size() == many.frames.size());
  for (size_t i = 0; i < one.frames.size(); i++) {
    const auto &x = one.frames[i], &y = many.frames[i];
    FUZZ_CHECK(x.slot == y.slot && same(x.startMs, y.startMs) && x.speaking == y.speaking && same(x.energyDbfs, y.energyDbfs));
  }
  FUZZ_CHECK(one.stats.size() == many.stats.size());
  for (size_t i = 0; i < one.stats.size(); i++) {
    const auto &x = one.stats[i], &y = many.stats[i];
    FUZZ_CHECK(same(x.tMs, y.tMs) && x.speaking == y.speaking && x.muted == y.muted && x.samples == y.samples);
    FUZZ_CHECK(x.clippedSamples == y.clippedSamples && same(x.rmsDbfs, y.rmsDbfs) && same(x.peakDbfs, y.peakDbfs));
    FUZZ_CHECK(same(x.speechCoverage10s, y.speechCoverage10s) && x.speechMs3s == y.speechMs3s && same(x.rmsDbfs3s, y.rmsDbfs3s));
    FUZZ_CHECK(same(x.clippedRatio3s, y.clippedRatio3s) && same(x.rmsEmaDbfs, y.rmsEmaDbfs) && x.hasEma == y.hasEma);
    FUZZ_CHECK(same(x.noiseFloorDbfs, y.noiseFloorDbfs) && same(x.lastSpokeAtMs, y.lastSpokeAtMs) && same(x.speechStartedAtMs, y.speechStartedAtMs));
  }
  FUZZ_CHECK(one.segments.size() == many.segments.size());
  for (size_t i = 0; i < one.segments.size(); i++) {
    FUZZ_CHECK(one.segments[i].wav == many.segments[i].wav);
    FUZZ_CHECK(same(one.segments[i].startMs, many.segments[i].startMs) && same(one.segments[i].endMs, many.segments[i].endMs));
  }

  // The model: stream-clock index of every fed sample frame, the mono downmix, the expected frames.
  std::vector<int16_t> mono;
  std::vector<uint64_t> monoIndex;
  std::vector<uint64_t> frameStarts;
  uint64_t index = 0;
  for (const Op& op : ops) {
    if (op.skip) {
      index += op.frames;
      continue;
    }
    const uint64_t runStart = index;
    for (uint64_t f = 0; f < op.frames; f++) {
      const int16_t* s = pcm.data() + op.offset + f * channels;
      mono.push_back(channels == 1 ? s[0] : static_cast<int16_t>((s[0] + s[1]) >> 1));
      monoIndex.push_back(index++);
    }
    (void)runStart;
  }
  // Frames: a run of consecutive feeds (no skip in between) yields floor(len / fs) frames.
  index = 0;
  uint64_t runStart = 0, runLen = 0;
  auto closeRun = [&] {
    for (uint64_t k = 0; k + fs <= runLen; k += fs) frameStarts.push_back(runStart + k);
  };
  for (const Op& op : ops) {
    if (op.skip) {
      closeRun();
      index += op.frames;
      runStart = index;
      runLen = 0;
    } else {
      runLen += op.frames;
      index += op.frames;
    }
  }
  closeRun();
  const double origin = meetcore::clampStartedAtMs(startedAtMs);
  auto timeMs = [&](uint64_t i) { return origin + static_cast<double>(i) * 1000.0 / rate; };
  FUZZ_CHECK(one.frames.size() == frameStarts.size());
  for (size_t i = 0; i < one.frames.size(); i++) {
    const auto& f = one.frames[i];
    FUZZ_CHECK(same(f.startMs, timeMs(frameStarts[i])));
    FUZZ_CHECK(f.slot == static_cast<int64_t>(std::floor(f.startMs / 10.0)) && f.slot >= 0);
    if (i > 0) FUZZ_CHECK(rate % 100 == 0 ? f.slot > one.frames[i - 1].slot : f.slot >= one.frames[i - 1].slot);
  }
  double lastT = -1;
  for (const auto& st : one.stats) {
    FUZZ_CHECK(std::isfinite(st.tMs) && st.tMs >= lastT && st.tMs >= origin);
    lastT = st.tMs;
    FUZZ_CHECK(st.speechCoverage10s >= 0 && st.speechCoverage10s <= 1 && st.speechMs3s >= 0 && st.speechMs3s <= 3000);
    FUZZ_CHECK(st.clippedRatio3s >= 0 && st.clippedRatio3s <= 1 && st.samples >= 0 && st.clippedSamples >= 0);
    FUZZ_CHECK(!st.muted || !st.speaking);
  }
  if (!segments) {
    FUZZ_CHECK(one.segments.empty());
    return 0;
  }
  const size_t S = static_cast<size_t>(groupSeconds * rate + 0.5);
  size_t expected = mono.size() / S;
  const size_t rem = mono.size() % S;
  if (rem >= static_cast<size_t>(rate / 2)) expected++;
  FUZZ_CHECK(one.segments.size() == expected);
  size_t at = 0;
  for (size_t i = 0; i < one.segments.size(); i++) {
    const auto& seg = one.segments[i];
    const size_t n = i < mono.size() / S ? S : rem;
    FUZZ_CHECK(seg.index == i);
    FUZZ_CHECK(seg.wav.size() == meetcore::kWavHeaderBytes + 2 * n);
    const uint8_t* h = seg.wav.data();
    FUZZ_CHECK(std::memcmp(h, "RIFF", 4) == 0 && std::memcmp(h + 8, "WAVEfmt ", 8) == 0 && std::memcmp(h + 36, "data", 4) == 0);
    FUZZ_CHECK(le32(h + 4) == 36 + 2 * n && le32(h + 16) == 16 && le16(h + 20) == 1 && le16(h + 22) == 1);
    FUZZ_CHECK(le32(h + 24) == static_cast<uint32_t>(rate) && le32(h + 28) == static_cast<uint32_t>(rate) * 2);
    FUZZ_CHECK(le16(h + 32) == 2 && le16(h + 34) == 16 && le32(h + 40) == 2 * n);
    FUZZ_CHECK(std::memcmp(h + meetcore::kWavHeaderBytes, mono.data() + at, 2 * n) == 0);
    FUZZ_CHECK(same(seg.startMs, timeMs(monoIndex[at])));
    FUZZ_CHECK(same(seg.endMs, timeMs(monoIndex[at + n - 1] + 1)));
    at += n;
  }
  return 0;
}
