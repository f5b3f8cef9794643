// Unit tests of native/dsp: levels, VAD, smoother, WAV header, ring buffer, overlap timeline.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "../dsp/analysis.h"
#include "../dsp/level.h"
#include "../dsp/overlap.h"
#include "../dsp/ring_buffer.h"
#include "../dsp/vad.h"
#include "../dsp/wav.h"
#include "check.h"

using namespace meetcore;

static std::vector<int16_t> sine(int n, double freq, double peakDbfs, int rate = 48000) {
  std::vector<int16_t> s(n);
  const double amp = 32767.0 * std::pow(10.0, peakDbfs / 20.0);
  for (int i = 0; i < n; i++) s[i] = static_cast<int16_t>(std::lround(amp * std::sin(2 * M_PI * freq * i / rate)));
  return s;
}

static void testLevels() {
  auto full = sine(48000, 1000, 0);
  LevelSums l = measureLevels(full.data(), full.size(), 1);
  CHECK_NEAR(meanSquareToDbfs(double(l.sumSquares) / l.frames), -3.0103, 0.01);
  CHECK(l.peak == 32767);
  auto quiet = sine(48000, 1000, -20);
  l = measureLevels(quiet.data(), quiet.size(), 1);
  CHECK_NEAR(meanSquareToDbfs(double(l.sumSquares) / l.frames), -23.0103, 0.01);
  CHECK(l.clipped == 0);
  // Stereo: (L + R) / 2 of equal channels is the channel; a clipped sample in either channel counts.
  std::vector<int16_t> st(2 * quiet.size());
  for (size_t i = 0; i < quiet.size(); i++) st[2 * i] = st[2 * i + 1] = quiet[i];
  st[0] = 32767;
  st[3] = -32768;
  l = measureLevels(st.data(), quiet.size(), 2);
  CHECK(l.clipped == 2);
  CHECK(l.frames == 48000);
  CHECK(meanSquareToDbfs(0) == -120.0);
}

static void testVadNoise() {
  Vad vad;
  std::mt19937 rng(7);
  std::normal_distribution<double> g(0, 32767.0 * std::pow(10.0, -40 / 20.0));
  int voiced = 0;
  for (int f = 0; f < 1000; f++) {
    std::vector<int16_t> fr(480);
    for (auto& v : fr) v = static_cast<int16_t>(std::lround(g(rng)));
    LevelSums l = measureLevels(fr.data(), fr.size(), 1);
    voiced += vad.process(meanSquareToDbfs(double(l.sumSquares) / l.frames));
  }
  CHECK(voiced == 0);
  CHECK_NEAR(vad.noiseFloorDbfs(), -40.5, 1.0);
}

static void testSmoother() {
  SpeechSmoother s;
  // voiced pattern: isolated click, then speech with a 50 ms gap (bridged) and a 200 ms gap (kept)
  std::vector<int> in = {0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1};
  for (int i = 0; i < 20; i++) in.push_back(0);
  in.push_back(1);
  in.push_back(1);
  for (int i = 0; i < 12; i++) in.push_back(0);
  std::vector<int> out;
  bool sp;
  for (int v : in) {
    s.push(v);
    while (s.pop(sp)) out.push_back(sp);
  }
  while (s.drain(sp)) out.push_back(sp);
  CHECK(out.size() == in.size());
  CHECK(out[2] == 0);                                     // click dropped
  for (int i = 12; i <= 23; i++) CHECK(out[i] == 1);      // bridged gap of 5 frames
  for (int i = 24; i <= 43; i++) CHECK(out[i] == 0);      // 20-frame gap kept
  CHECK(out[44] == 1 && out[45] == 1 && out[46] == 0);
}

/**
 * Each decision comes out as soon as it is final, and the decisions are those of a fixed 10-frame delay:
 * random voiced flags against the rule computed over the whole input (a voiced frame is speech when a
 * neighbour is voiced; an unvoiced one when it lies in a gap of fewer than kBridgeFrames between voiced
 * frames). In steady voicing every push gives its own decision at once; an unvoiced frame is decided when the
 * next voiced frame arrives, or once the gap has reached kBridgeFrames.
 */
static void testSmootherEager() {
  constexpr int B = SpeechSmoother::kBridgeFrames;
  std::mt19937 rng(11);
  for (int round = 0; round < 200; round++) {
    std::vector<int> in;
    while (in.size() < 400) {  // runs of 1..25 frames
      const int v = static_cast<int>(rng() % 2), len = 1 + static_cast<int>(rng() % 25);
      for (int k = 0; k < len; k++) in.push_back(v);
    }
    const int n = static_cast<int>(in.size());
    auto voiced = [&](int i) { return i >= 0 && i < n && in[i] == 1; };
    std::vector<int> want(n);
    for (int i = 0; i < n; i++) {
      if (in[i]) {
        want[i] = voiced(i - 1) || voiced(i + 1);
      } else {
        int before = i - 1, after = i + 1;
        while (before >= 0 && !in[before]) before--;
        while (after < n && !in[after]) after++;
        want[i] = before >= 0 && after < n && after - before - 1 < B;
      }
    }
    SpeechSmoother s;
    std::vector<int> got;
    bool sp;
    int maxLag = 0;
    for (int i = 0; i < n; i++) {
      s.push(in[i]);
      while (s.pop(sp)) got.push_back(sp);
      maxLag = std::max(maxLag, i + 1 - static_cast<int>(got.size()));
      // Pending: nothing (after voice following voice), one (a voiced frame after silence), or the unvoiced
      // frames of a gap still shorter than kBridgeFrames.
      if (i >= 1 && in[i] && in[i - 1]) CHECK(s.pending() == 0);
      if (!in[i]) {
        int gap = 0;  // unvoiced frames up to i
        for (int j = i; j >= 0 && !in[j]; j--) gap++;
        CHECK(s.pending() == (i - gap < 0 || gap >= B ? 0 : gap));
      }
    }
    while (s.drain(sp)) got.push_back(sp);
    CHECK(got == want);
    CHECK(maxLag <= SpeechSmoother::kLookaheadFrames);
  }
}

static uint32_t le32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }
static uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

/** Every field of the 44-byte header: tags, sizes (bytes), PCM format, channels, rate (Hz), byte rate
 *  (bytes/s), block align (bytes per sample frame), bits. */
static void checkWavHeader(const uint8_t* h, uint32_t rate, uint16_t channels, uint32_t dataBytes) {
  CHECK(std::memcmp(h, "RIFF", 4) == 0 && std::memcmp(h + 8, "WAVEfmt ", 8) == 0 && std::memcmp(h + 36, "data", 4) == 0);
  CHECK(le32(h + 4) == 36 + dataBytes);
  CHECK(le32(h + 16) == 16);
  CHECK(le16(h + 20) == 1);
  CHECK(le16(h + 22) == channels);
  CHECK(le32(h + 24) == rate);
  CHECK(le32(h + 28) == rate * channels * 2u);
  CHECK(le16(h + 32) == channels * 2u);
  CHECK(le16(h + 34) == 16);
  CHECK(le32(h + 40) == dataBytes);
}

static void testWavHeader() {
  uint8_t h[kWavHeaderBytes];
  for (uint32_t rate : {8000u, 22050u, 44100u, 48000u}) {
    for (uint16_t ch : {uint16_t{1}, uint16_t{2}}) {
      writeWavHeader(h, rate, ch, 1920 + rate);
      checkWavHeader(h, rate, ch, 1920 + rate);
    }
  }
  writeWavHeader(h, 48000, 2, 1ull << 33);  // past the RIFF limit: sizes clamped
  checkWavHeader(h, 48000, 2, 0xFFFFFFFFu - 36);
  const int16_t samples[3] = {1, -2, 3};
  const std::vector<uint8_t> wav = makeWav(samples, 3, 16000, 1);
  CHECK(wav.size() == kWavHeaderBytes + 6);
  checkWavHeader(wav.data(), 16000, 1, 6);
  CHECK(std::memcmp(wav.data() + kWavHeaderBytes, samples, 6) == 0);
}

/** Start times outside 0..kMaxStartedAtMs (Unix ms) are clamped (1e300 overflowed the slot's float-to-int64 cast). */
static void testStartClamp() {
  CHECK(clampStartedAtMs(1e300) == kMaxStartedAtMs);
  CHECK(clampStartedAtMs(-5) == 0);
  CHECK(clampStartedAtMs(std::nan("")) == 0);
  CHECK(clampStartedAtMs(1234.5) == 1234.5);
  struct Sink : AnalysisSink {
    std::vector<FrameResult> frames;
    void onFrame(const FrameResult& f) override { frames.push_back(f); }
    void onStats(const StatsSnapshot&) override {}
    void onSegment(uint32_t, double, double, std::vector<uint8_t>&&) override {}
  };
  for (double start : {1e300, -1e300, -1000.0}) {
    Sink sink;
    StreamAnalysis a(8000, 1, start, 1, false, 250);
    std::vector<int16_t> pcm(800, 0);
    a.feed(pcm.data(), pcm.size(), sink);
    a.finish(sink);
    CHECK(sink.frames.size() == 10);
    const double origin = clampStartedAtMs(start);
    for (size_t i = 0; i < sink.frames.size(); i++) {
      CHECK(sink.frames[i].startMs == origin + 10.0 * i);
      CHECK(sink.frames[i].slot == static_cast<int64_t>(origin / 10) + static_cast<int64_t>(i));
    }
  }
}

static void testRing() {
  RingBuffer r(100);  // exactly 100 bytes: positions wrap at a capacity that is not a power of two
  CHECK(r.capacity() == 100);
  std::vector<uint8_t> in(300), out;
  for (size_t i = 0; i < in.size(); i++) in[i] = static_cast<uint8_t>(i * 7);
  size_t written = 0;
  uint8_t buf[64];
  while (written < in.size() || r.readable()) {  // wraps around twice without losing a byte
    size_t n = std::min<size_t>(50, in.size() - written);
    if (n && r.write(in.data() + written, n)) written += n;
    size_t got = r.read(buf, 37);
    out.insert(out.end(), buf, buf + got);
  }
  CHECK(out == in);
  RingBuffer small(64);
  CHECK(small.write(in.data(), 60));
  CHECK(!small.write(in.data(), 5));  // all or nothing
  CHECK(small.readable() == 60);
}

static void printUnexpected(const TimelineReports& out) {
  if (g_failures == 0) return;
  for (auto& o : out.overlaps) std::fprintf(stderr, "  overlap: %d %s %s %f %f ex=%d\n", o.phase, o.first.c_str(), o.second.c_str(), o.startMs, o.overlapMs, o.excluded);
}

static void testOverlap() {
  MeetingTimeline t(500);
  TimelineReports out;
  t.addStream(1, "alice");
  t.addStream(2, "bob");
  // Alice speaks slots 0..299; Bob from 200..399: overlap 100 slots = 1 s, Bob interrupts.
  // Alice's stream is processed entirely first (faster than real time), then Bob's.
  for (int s = 0; s < 400; s++) t.onFrame(1, 1000 + s, s < 300, out);
  CHECK(out.overlaps.empty());
  // Alice's talk spurt is reported once 300 ms of silence followed it.
  CHECK(out.speech.size() == 1);
  if (out.speech.size() == 1) {
    CHECK(out.speech[0].streamId == 1);
    CHECK_NEAR(out.speech[0].startMs, 10000, 0.1);
    CHECK_NEAR(out.speech[0].endMs, 13000, 0.1);
  }
  for (int s = 0; s < 400; s++) t.onFrame(2, 1000 + s, s >= 200, out);
  CHECK(out.overlaps.size() == 2);
  if (out.overlaps.size() == 2) {
    CHECK(out.overlaps[0].phase == OverlapReport::kStart && out.overlaps[0].second == "bob" && out.overlaps[0].first == "alice");
    CHECK_NEAR(out.overlaps[0].startMs, 12000, 0.1);
    CHECK(!out.overlaps[0].excluded);
    CHECK(out.overlaps[1].phase == OverlapReport::kEnd);
    CHECK_NEAR(out.overlaps[1].overlapMs, 1000, 0.1);
  }
  // Bob's spurt is still open (his silence after it has not come): reported when his stream is removed.
  t.removeStream(2, out);
  CHECK(out.speech.size() == 2);
  if (out.speech.size() == 2) {
    CHECK(out.speech[1].streamId == 2);
    CHECK_NEAR(out.speech[1].startMs, 12000, 0.1);
    CHECK_NEAR(out.speech[1].endMs, 14000, 0.1);
  }
  printUnexpected(out);

  // A 200 ms backchannel gives nothing; overlaps with an excluded stream (a host) are flagged.
  MeetingTimeline t2(500);
  TimelineReports out2;
  t2.addStream(1, "a");
  t2.addStream(2, "b");
  t2.addStream(3, "host");
  t2.setExcluded(3, true);
  for (int s = 0; s < 300; s++) {
    t2.onFrame(1, s, true, out2);
    t2.onFrame(2, s, s >= 100 && s < 120, out2);
    t2.onFrame(3, s, true, out2);
  }
  t2.removeStream(1, out2);
  CHECK(!out2.overlaps.empty());
  for (auto& o : out2.overlaps) CHECK(o.excluded && o.first != "b" && o.second != "b");
  printUnexpected(out2);
}

/** Word gaps of 200-300 ms inside an interruption do not break it (the 1.28 s case). */
static void testOverlapWordGaps() {
  MeetingTimeline t(500);
  TimelineReports out;
  t.addStream(1, "alice");
  t.addStream(2, "bob");
  // Alice talks 0..399 without a pause; Bob: words 272..311, pause 250 ms, 337..376, then silence.
  auto bob = [](int s) { return (s >= 272 && s <= 311) || (s >= 337 && s <= 376); };
  for (int s = 0; s < 600; s++) {
    t.onFrame(1, s, s < 400, out);
    t.onFrame(2, s, bob(s), out);
  }
  CHECK(out.overlaps.size() == 2);
  if (out.overlaps.size() == 2) {
    CHECK(out.overlaps[0].phase == OverlapReport::kStart && out.overlaps[0].second == "bob");
    CHECK_NEAR(out.overlaps[0].startMs, 2720, 0.1);
    CHECK(out.overlaps[1].phase == OverlapReport::kEnd);
    CHECK_NEAR(out.overlaps[1].overlapMs, 1050, 0.1);  // 272..376 bridged
  }
  // Bob's spurt is one (the 250 ms pause bridged); a 300 ms pause is not bridged.
  int bobSpurts = 0;
  for (auto& r : out.speech) if (r.streamId == 2) bobSpurts++;
  CHECK(bobSpurts == 1);
  MeetingTimeline t2(500);
  TimelineReports out2;
  t2.addStream(1, "x");
  for (int s = 0; s < 200; s++) t2.onFrame(1, s, (s < 50) || (s >= 80 && s < 100) || (s >= 129 && s < 140), out2);
  // 50..79 is 300 ms (not bridged); 100..128 is 290 ms (bridged).
  CHECK(out2.speech.size() == 2);
  if (out2.speech.size() == 2) {
    CHECK_NEAR(out2.speech[0].endMs, 500, 0.1);
    CHECK_NEAR(out2.speech[1].startMs, 800, 0.1);
    CHECK_NEAR(out2.speech[1].endMs, 1400, 0.1);
  }
  printUnexpected(out);
}

/** A backchannel of 800 ms over speech is not an interruption; an overlap whose interrupter goes on is. */
static void testOverlapBackchannel() {
  MeetingTimeline t(500);
  TimelineReports out;
  t.addStream(1, "alice");
  t.addStream(2, "bob");
  for (int s = 0; s < 600; s++) {
    t.onFrame(1, s, s < 400, out);
    t.onFrame(2, s, s >= 100 && s < 180, out);  // 800 ms, all of it over Alice
  }
  t.removeStream(1, out);
  CHECK(out.overlaps.empty());
  printUnexpected(out);
  // Alice 0..199, Bob 140..299: 600 ms of overlap while Bob's spurt is 600 ms long; Bob goes on to 1.6 s, so
  // it is reported when his spurt reaches 1 s (slot 239), start and end together.
  MeetingTimeline t2(500);
  TimelineReports out2;
  t2.addStream(1, "alice");
  t2.addStream(2, "bob");
  for (int s = 0; s < 400; s++) {
    t2.onFrame(1, s, s < 200, out2);
    t2.onFrame(2, s, s >= 140 && s < 300, out2);
  }
  CHECK(out2.overlaps.size() == 2);
  if (out2.overlaps.size() == 2) {
    CHECK(out2.overlaps[0].phase == OverlapReport::kStart && out2.overlaps[0].second == "bob");
    CHECK_NEAR(out2.overlaps[0].tMs, 2400, 0.1);
    CHECK_NEAR(out2.overlaps[0].overlapMs, 600, 0.1);
    CHECK(out2.overlaps[1].phase == OverlapReport::kEnd);
    CHECK_NEAR(out2.overlaps[1].tMs, 2000, 0.1);
  }
  printUnexpected(out2);
}

/** A gap longer than the 16384-slot history (163.84 s, e.g. three minutes muted) leaves no stale speech. */
static void testOverlapLongGap() {
  // Alice speaks at slots 2900..3014, is muted (no frames) past the whole history, then speaks again from
  // 19400 (16385 slots after 3015: the old clearing loop stopped at once); Bob speaks 19300..19699. Before
  // the fix Alice's old speech reappeared at 2900 + 16384 = 19284..19398: a false overlap from 19300, Bob
  // named the interrupter.
  MeetingTimeline t(500);
  TimelineReports out;
  t.addStream(1, "alice");
  t.addStream(2, "bob");
  for (int64_t s = 2900; s <= 3014; s++) t.onFrame(1, s, true, out);
  for (int64_t s = 19400; s < 19700; s++) t.onFrame(1, s, true, out);
  for (int64_t s = 2900; s < 19700; s++) t.onFrame(2, s, s >= 19300, out);
  CHECK(!out.overlaps.empty());
  if (!out.overlaps.empty()) {
    CHECK(out.overlaps[0].phase == OverlapReport::kStart);
    CHECK_NEAR(out.overlaps[0].startMs, 194000, 0.1);
    CHECK(out.overlaps[0].first == "bob" && out.overlaps[0].second == "alice");
  }
  // A muted participant after a long gap: nothing at all while only Bob speaks.
  MeetingTimeline t2(500);
  TimelineReports out2;
  t2.addStream(1, "alice");
  t2.addStream(2, "bob");
  for (int64_t s = 1000; s < 1200; s++) t2.onFrame(1, s, true, out2);
  t2.setMuted(1, true);
  for (int64_t s = 1200 + 18000; s < 1200 + 18500; s++) t2.onFrame(1, s, true, out2);  // muted: silence
  for (int64_t s = 1000; s < 1200 + 18500; s++) t2.onFrame(2, s, s >= 1200 + 16000, out2);
  t2.removeStream(1, out2);
  CHECK(out2.overlaps.empty());
  printUnexpected(out2);
}

/**
 * A silence of kBridgeSlots or more settles what came before it before it overwrites the history. Before the
 * fix, a frame 16,356..16,384 slots after the last one read the overwritten history as the end of the open
 * spurt (here 0..720 ms and a phantom 1000..1010 ms instead of 0..1010 ms), and a gap longer than the history
 * dropped the last 29 slots the pairs had not compared (an interruption taking them was lost or cut short).
 */
static void testOverlapGapSettles() {
  MeetingTimeline t(500);
  TimelineReports out;
  t.addStream(1, "alice");
  for (int64_t s = 0; s <= 100; s++) t.onFrame(1, s, true, out);
  t.onFrame(1, 100 + MeetingTimeline::kHistorySlots, true, out);
  t.removeStream(1, out);
  CHECK(out.speech.size() == 2);
  if (out.speech.size() == 2) {
    CHECK_NEAR(out.speech[0].startMs, 0, 0.1);
    CHECK_NEAR(out.speech[0].endMs, 1010, 0.1);
    CHECK_NEAR(out.speech[1].startMs, 164840, 0.1);
    CHECK_NEAR(out.speech[1].endMs, 164850, 0.1);
  }
  // Alice 0..399, Bob 300..399 (then silent): Bob's spurt reaches 1 s at slot 399, just before Alice's frames
  // stop for 200 s; and Bob 200..399: reported at slot 299, its end (slot 400) still undecided at the gap.
  for (int bobFrom : {300, 200}) {
    MeetingTimeline t2(500);
    TimelineReports out2;
    t2.addStream(1, "alice");
    t2.addStream(2, "bob");
    for (int s = 0; s < 400; s++) {
      t2.onFrame(1, s, true, out2);
      t2.onFrame(2, s, s >= bobFrom, out2);
    }
    for (int s = 400; s < 500; s++) t2.onFrame(2, s, false, out2);
    t2.onFrame(1, 20399, false, out2);
    CHECK(out2.overlaps.size() == (bobFrom == 200 ? 3u : 2u));  // with an 'ongoing' at slot 399
    if (out2.overlaps.size() >= 2) {
      CHECK(out2.overlaps[0].phase == OverlapReport::kStart && out2.overlaps[0].second == "bob");
      CHECK_NEAR(out2.overlaps[0].startMs, bobFrom * 10, 0.1);
      CHECK_NEAR(out2.overlaps[0].tMs, (bobFrom + 100) * 10, 0.1);
      CHECK(out2.overlaps.back().phase == OverlapReport::kEnd);
      CHECK_NEAR(out2.overlaps.back().tMs, 4000, 0.1);
      CHECK_NEAR(out2.overlaps.back().overlapMs, (400 - bobFrom) * 10, 0.1);
    }
    CHECK(!out2.speech.empty() && out2.speech.back().streamId == 1 && out2.speech.back().endMs == 4000);
    printUnexpected(out2);
  }
}

/**
 * The later speaker's spurt is seen through the history, open or not. Bob (fed first) talks for 179 s from
 * slot 0; Alice from slot 1500; the pair starts at 1536, the oldest slot Bob remembers, where Bob's turn seems
 * to begin: Bob is the later speaker, and his spurt has lasted 1 s at slot 1635 whether it is still open or
 * ended at 17880. Before the fix an open spurt counted from slot 0: reported at once (slot 1540), 950 ms
 * earlier than the same meeting with the spurt ended.
 */
static void testOverlapSpurtBeyondHistory() {
  for (int bobTo : {17919, 17880}) {
    MeetingTimeline t(50);
    TimelineReports out;
    t.addStream(1, "alice");
    t.addStream(2, "bob");
    for (int64_t s = 0; s < 17920; s++) t.onFrame(2, s, s <= bobTo, out);
    for (int64_t s = 1500; s < 1884; s++) t.onFrame(1, s, true, out);
    CHECK(!out.overlaps.empty());
    if (!out.overlaps.empty()) {
      CHECK(out.overlaps[0].phase == OverlapReport::kStart && out.overlaps[0].second == "bob");
      CHECK_NEAR(out.overlaps[0].startMs, 15360, 0.1);
      CHECK_NEAR(out.overlaps[0].tMs, 16360, 0.1);
      // Fired by Bob, whose bits are final far ahead, once the walk has counted 50 ms (the end has the rest).
      CHECK_NEAR(out.overlaps[0].overlapMs, 50, 0.1);
    }
    printUnexpected(out);
  }
}

/** Slots before the Unix epoch are kept as they are (they were renumbered from 0). */
static void testOverlapNegativeSlots() {
  MeetingTimeline t(500);
  TimelineReports out;
  t.addStream(1, "alice");
  t.addStream(2, "bob");
  for (int64_t s = -300; s < 50; s++) t.onFrame(1, s, s < 0, out);
  for (int64_t s = -300; s < 50; s++) t.onFrame(2, s, s >= -100 && s < 0, out);
  t.removeStream(1, out);
  CHECK(out.overlaps.size() == 2);
  if (out.overlaps.size() == 2) {
    CHECK_NEAR(out.overlaps[0].startMs, -1000, 0.1);
    CHECK_NEAR(out.overlaps[1].overlapMs, 1000, 0.1);
    CHECK(out.overlaps[0].second == "bob");
  }
}

/**
 * A removed stream stays on the timeline for the streams that lag behind it. Alice speaks 0..499 and her
 * stream is removed after all its frames; Bob's audio is processed only afterwards (a burst after a network
 * stall): he speaks 400..799, so he interrupts her from 400. Before the fix her track was erased at the removal
 * and nothing was reported.
 */
static void testOverlapRemovedStreamLagging() {
  MeetingTimeline t(500);
  TimelineReports out;
  t.addStream(1, "alice");
  t.addStream(2, "bob");
  for (int s = 0; s < 500; s++) t.onFrame(1, s, true, out);
  t.removeStream(1, out);
  CHECK(!t.empty());  // Bob is live
  for (int s = 0; s < 900; s++) t.onFrame(2, s, s >= 400 && s < 800, out);
  CHECK(out.overlaps.size() == 2);
  if (out.overlaps.size() == 2) {
    CHECK(out.overlaps[0].phase == OverlapReport::kStart);
    CHECK(out.overlaps[0].first == "alice" && out.overlaps[0].second == "bob");
    CHECK_NEAR(out.overlaps[0].startMs, 4000, 0.1);
    CHECK_NEAR(out.overlaps[0].tMs, 5000, 0.1);  // Bob's spurt reaches 1 s at Alice's last slot
    CHECK(out.overlaps[1].phase == OverlapReport::kEnd);  // the pair passed her last slot
    CHECK_NEAR(out.overlaps[1].tMs, 5000, 0.1);
    CHECK_NEAR(out.overlaps[1].overlapMs, 1000, 0.1);
  }
  printUnexpected(out);
}

/**
 * An ended track is dropped once no live stream still lags behind it: when the last one passes its last slot,
 * or is removed. Streams added after the removal are not compared with it.
 */
static void testOverlapEndedTrackDropped() {
  MeetingTimeline t(500);
  TimelineReports out;
  t.addStream(1, "alice");
  t.addStream(2, "bob");
  for (int s = 0; s < 500; s++) t.onFrame(1, s, true, out);
  t.removeStream(1, out);
  for (int s = 0; s < 499; s++) t.onFrame(2, s, s >= 400, out);
  CHECK(t.trackCount() == 2);  // Bob's slots are final up to 498: Alice's last one (499) is still ahead
  for (int s = 499; s < 530; s++) t.onFrame(2, s, true, out);
  CHECK(t.trackCount() == 1);  // final up to 529: past her end
  // Carol joins after Alice left and speaks over Alice's old slots: only Bob is compared with her.
  t.addStream(3, "carol");
  for (int s = 0; s < 880; s++) t.onFrame(3, s, s >= 300 && s < 800, out);  // final up to 879
  for (int s = 530; s < 900; s++) t.onFrame(2, s, s < 800, out);
  bool bobCarol = false;
  for (auto& o : out.overlaps) {
    CHECK(o.first != "alice" || o.second != "carol");
    CHECK(o.first != "carol" || o.second != "alice");
    if (o.first == "carol" && o.second == "bob") bobCarol = true;
  }
  CHECK(bobCarol);
  t.removeStream(2, out);
  CHECK(!t.empty() && t.trackCount() == 2);  // Carol lags behind Bob's end (899)... until her removal
  t.removeStream(3, out);
  CHECK(t.empty() && t.trackCount() == 0);
  printUnexpected(out);

  // A lagging stream removed before it reaches the ended track's end: both are forgotten.
  MeetingTimeline t2(500);
  TimelineReports out2;
  t2.addStream(1, "alice");
  t2.addStream(2, "bob");
  t2.addStream(3, "host");  // never fed
  for (int s = 0; s < 500; s++) t2.onFrame(1, s, true, out2);
  t2.removeStream(1, out2);
  for (int s = 0; s < 300; s++) t2.onFrame(2, s, false, out2);
  t2.removeStream(2, out2);
  CHECK(!t2.empty() && t2.trackCount() == 3);  // the host, without frames yet, lags behind both
  t2.removeStream(3, out2);
  CHECK(t2.empty() && t2.trackCount() == 0);
  CHECK(out2.overlaps.empty());
  printUnexpected(out2);
}

/**
 * The interruption start is emitted as soon as the rule holds on final bits (eager finality), fired by the
 * interrupter: `firedAt` is the slot being fed when the start came out. Alice talks from slot 0 to 999, Bob
 * from 300 to 800 (both fed slot by slot, Alice first), minOverlapMs 500: the start is due at slot 399,
 * where Bob's spurt reaches 1 s.
 *  1. Both voiced at 399: both bits are final there at once, the start comes out at 399.
 *  2. Alice pauses 380..399 (200 ms, bridged): her bit at 399 is final only at 400, but the walk has counted
 *     800 ms by then and Bob's bits are final up to 399: fired by Bob at 399, with the 800 ms counted; the
 *     end carries the exact length (300..800, 5.01 s).
 *  3. Bob pauses 390..405: his bit at 399 is final when his voice returns at 406: the start comes out then.
 * (With the old finality, a slot final only 29 slots later, each comes out 29 or more slots late.)
 */
static void testOverlapEagerStart() {
  struct Case {
    bool (*alice)(int);
    bool (*bob)(int);
    int firedAt;
    double startOverlapMs;
  };
  const Case cases[] = {
      {[](int s) { return s < 1000; }, [](int s) { return s >= 300 && s <= 800; }, 399, 1000},
      {[](int s) { return s < 1000 && !(s >= 380 && s <= 399); }, [](int s) { return s >= 300 && s <= 800; }, 399, 800},
      {[](int s) { return s < 1000; }, [](int s) { return s >= 300 && s <= 800 && !(s >= 390 && s <= 405); }, 406, 1000},
  };
  for (const Case& c : cases) {
    MeetingTimeline t(500);
    TimelineReports out;
    t.addStream(1, "alice");
    t.addStream(2, "bob");
    int firedAt = -1;
    for (int s = 0; s < 1100; s++) {
      t.onFrame(1, s, c.alice(s), out);
      t.onFrame(2, s, c.bob(s), out);
      if (firedAt < 0 && !out.overlaps.empty()) firedAt = s;
    }
    CHECK(firedAt == c.firedAt);
    CHECK(out.overlaps.size() == 6);  // start, 4 × ongoing, end
    if (out.overlaps.size() == 6) {
      const OverlapReport& start = out.overlaps.front();
      const OverlapReport& end = out.overlaps.back();
      CHECK(start.phase == OverlapReport::kStart && start.first == "alice" && start.second == "bob");
      CHECK_NEAR(start.startMs, 3000, 0.1);
      CHECK_NEAR(start.tMs, 4000, 0.1);
      CHECK_NEAR(start.overlapMs, c.startOverlapMs, 0.1);
      CHECK(end.phase == OverlapReport::kEnd);
      CHECK_NEAR(end.tMs, 8010, 0.1);
      CHECK_NEAR(end.overlapMs, 5010, 0.1);
    }
    printUnexpected(out);
  }
}

int main() {
  testLevels();
  testVadNoise();
  testSmoother();
  testSmootherEager();
  testWavHeader();
  testStartClamp();
  testRing();
  testOverlap();
  testOverlapEagerStart();
  testOverlapWordGaps();
  testOverlapBackchannel();
  testOverlapLongGap();
  testOverlapGapSettles();
  testOverlapSpurtBeyondHistory();
  testOverlapNegativeSlots();
  testOverlapRemovedStreamLagging();
  testOverlapEndedTrackDropped();
  TEST_MAIN_END();
}
