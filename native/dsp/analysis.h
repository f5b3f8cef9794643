// Per-stream analysis: 10 ms frames → levels, VAD, rolling statistics, mono segments.
#pragma once
#include <cstdint>
#include <vector>

#include "level.h"
#include "band.h"
#include "vad.h"

namespace meetcore {

/** One analysed 10 ms frame (delivered once its speech decision is final: at most SpeechSmoother::kLookaheadFrames after it arrived). */
struct FrameResult {
  /** Absolute 10 ms slot: floor(frame start time in Unix ms / 10). */
  int64_t slot;
  double startMs;
  double energyDbfs;
  bool speaking;
};

/** The measurements of a StatsEvent (src/pipeline/types.ts documents every field). */
struct StatsSnapshot {
  double tMs = 0;
  bool speaking = false;
  bool muted = false;
  double rmsDbfs = 0;  // valid when samples > 0
  double peakDbfs = 0;
  int64_t clippedSamples = 0;
  int64_t samples = 0;
  double speechCoverage10s = 0;
  int32_t speechMs3s = 0;
  double rmsDbfs3s = 0;  // valid when speechMs3s > 0
  double clippedRatio3s = 0;
  double rmsEmaDbfs = 0;  // valid when hasEma
  bool hasEma = false;
  double noiseFloorDbfs = -120;
  double lastSpokeAtMs = -1;       // < 0: never
  double speechStartedAtMs = -1;   // < 0: not speaking
};

/** Receives what StreamAnalysis produces, on the worker thread. */
class AnalysisSink {
 public:
  virtual ~AnalysisSink() = default;
  virtual void onFrame(const FrameResult& frame) = 0;
  virtual void onStats(const StatsSnapshot& stats) = 0;
  /** A complete mono WAV (44-byte header + s16le samples); ownership of `wav` passes to the sink. */
  virtual void onSegment(uint32_t index, double startMs, double endMs, std::vector<uint8_t>&& wav) = 0;
};

/**
 * Largest stream start time (Unix ms): 253402300800000, the start of the year 10000. A double still resolves
 * 1/16 ms there, so stream times stay exact enough that 10 ms frames never share a slot (near 2^53 odd
 * milliseconds are not representable: fuzz_analysis found frames 10 ms apart in the same slot), and every
 * slot fits an int64.
 */
constexpr double kMaxStartedAtMs = 253402300800000.0;
/** `ms` (Unix ms) clamped to 0..kMaxStartedAtMs; NaN becomes 0. */
double clampStartedAtMs(double ms);

/**
 * The analysis of one stream, fed whole sample frames of interleaved s16 in stream order.
 * Stream clock (PROTOCOL.md §4): sample i is at startedAtMs + i * 1000 / sampleRate; muted spans advance the
 * clock through skip() without being analysed.
 */
class StreamAnalysis {
 public:
  /** @param startedAtMs Unix ms of sample 0, clamped to 0..kMaxStartedAtMs (the TS layer rejects others). */
  StreamAnalysis(int sampleRate, int channels, double startedAtMs, double groupSeconds, bool segments, int statsIntervalMs);

  /** Analyse `frames` sample frames (interleaved, `channels` per frame). */
  void feed(const int16_t* samples, size_t frames, AnalysisSink& sink);
  /** Advance the clock by `frames` sample frames that are not analysed (muted); emits stats on schedule. */
  void skip(uint64_t frames, bool muted, AnalysisSink& sink);
  /** End of stream: emit the partial segment (if ≥ 0.5 s) and final stats. */
  void finish(AnalysisSink& sink);

  /** Stream time of sample index i (Unix ms). */
  double timeMs(uint64_t i) const { return startedAtMs_ + static_cast<double>(i) * 1000.0 / sampleRate_; }
  uint64_t sampleIndex() const { return index_; }
  const Vad& vad() const { return vad_; }
  /** Speech decision of the last decided frame (decisions lag the input by up to SpeechSmoother's lookahead). */
  bool speaking() const { return speaking_; }

 private:
  struct Pending {
    LevelSums levels;
    double energyDbfs;
    double startMs, endMs;
  };
  void completeFrame(AnalysisSink& sink);
  void decide(const Pending& p, bool speech, AnalysisSink& sink);
  void flushPending(AnalysisSink& sink);
  void pushWindows(bool speech, const LevelSums& l);
  void maybeStats(AnalysisSink& sink, bool muted, bool force);
  void emitSegment(AnalysisSink& sink);

  const int sampleRate_;
  const int channels_;
  const double startedAtMs_;
  const int frameSamples_;  // per channel, 10 ms
  const bool segments_;
  const size_t segmentSamples_;
  const double statsIntervalMs_;

  uint64_t index_ = 0;        // next sample index (stream clock)
  uint64_t frameStart_ = 0;   // sample index of the current partial frame
  LevelSums partial_;         // current partial 10 ms frame
  SpeechBand band_;  // the VAD judges speech-band energy
  Vad vad_;
  SpeechSmoother smoother_;
  Pending pending_[SpeechSmoother::kLookaheadFrames + 1];
  int pendingHead_ = 0, pendingCount_ = 0;
  bool speaking_ = false;
  double decidedEndMs_;       // stream time of the end of the last decided frame

  // Rolling windows (one entry per 10 ms frame; muted/skipped frames count as silence).
  static constexpr int kWin10 = 1000, kWin3 = 300;
  std::vector<uint8_t> speech10_;
  int speech10Count_ = 0, pos10_ = 0, fill10_ = 0;
  struct W3 { int64_t sumSquares; int32_t frames; int32_t clipped; uint8_t speech; };
  std::vector<W3> win3_;
  int pos3_ = 0, fill3_ = 0;
  int64_t speechSq3_ = 0, speechSamples3_ = 0, samples3_ = 0, clipped3_ = 0;
  int speechFrames3_ = 0;

  double ema_ = 0;
  bool hasEma_ = false;
  double lastSpokeAtMs_ = -1, spurtStartMs_ = -1;

  // Interval accumulators for the next stats event.
  LevelSums interval_;
  double lastStatsMs_;

  // Segment under construction.
  std::vector<int16_t> segment_;
  std::vector<int16_t> mono_;
  double segmentStartMs_ = 0, segmentEndMs_ = 0;
  uint32_t segmentIndex_ = 0;
};

/** A complete mono s16le WAV file (header + samples). */
std::vector<uint8_t> makeWav(const int16_t* samples, size_t count, uint32_t sampleRate, uint16_t channels);

}  // namespace meetcore
