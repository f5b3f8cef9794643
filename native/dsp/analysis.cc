#include "analysis.h"

#include <cmath>
#include <cstring>

#include "wav.h"

namespace meetcore {

namespace {
// Time constant of the speech-RMS EMA: 1 s over 10 ms frames → alpha = 1 - exp(-0.01).
constexpr double kEmaAlpha = 0.00995017;
}  // namespace

std::vector<uint8_t> makeWav(const int16_t* samples, size_t count, uint32_t sampleRate, uint16_t channels) {
  std::vector<uint8_t> out(kWavHeaderBytes + count * 2);
  writeWavHeader(out.data(), sampleRate, channels, count * 2);
  std::memcpy(out.data() + kWavHeaderBytes, samples, count * 2);
  return out;
}

double clampStartedAtMs(double ms) {
  if (!(ms >= 0)) return 0;  // negative or NaN
  return ms > kMaxStartedAtMs ? kMaxStartedAtMs : ms;
}

StreamAnalysis::StreamAnalysis(int sampleRate, int channels, double startedAtMs, double groupSeconds, bool segments, int statsIntervalMs)
    : sampleRate_(sampleRate),
      channels_(channels),
      startedAtMs_(clampStartedAtMs(startedAtMs)),
      frameSamples_(sampleRate / 100),
      segments_(segments),
      segmentSamples_(static_cast<size_t>(groupSeconds * sampleRate + 0.5)),
      statsIntervalMs_(statsIntervalMs),
      band_(sampleRate, channels),
      speech10_(kWin10, 0),
      win3_(kWin3, W3{0, 0, 0, 0}),
      lastStatsMs_(startedAtMs_) {
  decidedEndMs_ = startedAtMs_;
  if (segments_) segment_.reserve(segmentSamples_);
}

void StreamAnalysis::feed(const int16_t* s, size_t frames, AnalysisSink& sink) {
  while (frames > 0) {
    const size_t inFrame = static_cast<size_t>(index_ - frameStart_);
    size_t take = static_cast<size_t>(frameSamples_) - inFrame;
    if (take > frames) take = frames;
    partial_.add(measureLevels(s, take, channels_));
    band_.add(s, take);
    if (segments_) {
      mono_.resize(take);
      downmixToMono(s, take, channels_, mono_.data());
      if (segment_.empty()) segmentStartMs_ = timeMs(index_);
      size_t room = segmentSamples_ - segment_.size();
      size_t n = take < room ? take : room;
      segment_.insert(segment_.end(), mono_.begin(), mono_.begin() + static_cast<long>(n));
      index_ += n;
      if (segment_.size() == segmentSamples_) {
        segmentEndMs_ = timeMs(index_);
        emitSegment(sink);
        if (n < take) {
          segmentStartMs_ = timeMs(index_);
          segment_.insert(segment_.end(), mono_.begin() + static_cast<long>(n), mono_.begin() + static_cast<long>(take));
        }
      }
      index_ += take - n;
      segmentEndMs_ = timeMs(index_);
    } else {
      index_ += take;
    }
    s += take * static_cast<size_t>(channels_);
    frames -= take;
    if (index_ - frameStart_ == static_cast<uint64_t>(frameSamples_)) completeFrame(sink);
  }
}

void StreamAnalysis::completeFrame(AnalysisSink& sink) {
  constexpr int kSize = SpeechSmoother::kLookaheadFrames + 1;
  const double e = meanSquareToDbfs(static_cast<double>(partial_.sumSquares) / partial_.frames);
  const bool voiced = vad_.process(meanSquareToDbfs(band_.takeMeanSquare()));
  pending_[(pendingHead_ + pendingCount_) % kSize] = Pending{partial_, e, timeMs(frameStart_), timeMs(index_)};
  pendingCount_++;
  partial_ = LevelSums{};
  frameStart_ = index_;
  bool speech;
  smoother_.push(voiced);
  while (smoother_.pop(speech)) {
    const Pending p = pending_[pendingHead_];
    pendingHead_ = (pendingHead_ + 1) % kSize;
    pendingCount_--;
    decide(p, speech, sink);
  }
}

void StreamAnalysis::flushPending(AnalysisSink& sink) {
  constexpr int kSize = SpeechSmoother::kLookaheadFrames + 1;
  bool speech;
  while (pendingCount_ > 0 && smoother_.drain(speech)) {
    const Pending p = pending_[pendingHead_];
    pendingHead_ = (pendingHead_ + 1) % kSize;
    pendingCount_--;
    decide(p, speech, sink);
  }
  smoother_.reset();
  pendingCount_ = 0;
}

void StreamAnalysis::decide(const Pending& p, bool speech, AnalysisSink& sink) {
  speaking_ = speech;
  if (speech) {
    if (spurtStartMs_ < 0) spurtStartMs_ = p.startMs;
    lastSpokeAtMs_ = p.endMs;
    ema_ = hasEma_ ? ema_ + kEmaAlpha * (p.energyDbfs - ema_) : p.energyDbfs;
    hasEma_ = true;
  } else {
    spurtStartMs_ = -1;
  }
  pushWindows(speech, p.levels);
  interval_.add(p.levels);
  decidedEndMs_ = p.endMs;
  sink.onFrame(FrameResult{static_cast<int64_t>(std::floor(p.startMs / 10.0)), p.startMs, p.energyDbfs, speech});
  maybeStats(sink, false, false);
}

void StreamAnalysis::pushWindows(bool speech, const LevelSums& l) {
  // 10 s speech coverage.
  speech10Count_ += speech - speech10_[pos10_];
  speech10_[pos10_] = speech;
  pos10_ = (pos10_ + 1) % kWin10;
  if (fill10_ < kWin10) fill10_++;
  // 3 s: speech energy, clipping.
  W3& old = win3_[pos3_];
  if (old.speech) {
    speechSq3_ -= old.sumSquares;
    speechSamples3_ -= old.frames;
    speechFrames3_--;
  }
  samples3_ -= old.frames;
  clipped3_ -= old.clipped;
  old = W3{l.sumSquares, l.frames, l.clipped, static_cast<uint8_t>(speech)};
  if (speech) {
    speechSq3_ += l.sumSquares;
    speechSamples3_ += l.frames;
    speechFrames3_++;
  }
  samples3_ += l.frames;
  clipped3_ += l.clipped;
  pos3_ = (pos3_ + 1) % kWin3;
  if (fill3_ < kWin3) fill3_++;
}

void StreamAnalysis::skip(uint64_t frames, bool muted, AnalysisSink& sink) {
  flushPending(sink);
  // A partial frame is abandoned: the frame grid restarts after the gap.
  partial_ = LevelSums{};
  index_ += frames;
  frameStart_ = index_;
  decidedEndMs_ = timeMs(index_);
  speaking_ = false;
  spurtStartMs_ = -1;
  uint64_t silentFrames = frames / static_cast<uint64_t>(frameSamples_);
  if (silentFrames > static_cast<uint64_t>(kWin10)) silentFrames = kWin10;
  for (uint64_t i = 0; i < silentFrames; i++) pushWindows(false, LevelSums{});
  maybeStats(sink, muted, false);
}

void StreamAnalysis::maybeStats(AnalysisSink& sink, bool muted, bool force) {
  const double now = decidedEndMs_;
  if (!force && now - lastStatsMs_ < statsIntervalMs_) return;
  lastStatsMs_ = now;
  StatsSnapshot st;
  st.tMs = now;
  st.speaking = speaking_ && !muted;
  st.muted = muted;
  st.samples = interval_.frames;
  if (interval_.frames > 0) {
    st.rmsDbfs = meanSquareToDbfs(static_cast<double>(interval_.sumSquares) / interval_.frames);
    st.peakDbfs = peakToDbfs(interval_.peak);
  }
  st.clippedSamples = interval_.clipped;
  st.speechCoverage10s = fill10_ ? static_cast<double>(speech10Count_) / kWin10 : 0;
  st.speechMs3s = speechFrames3_ * 10;
  if (speechSamples3_ > 0) st.rmsDbfs3s = meanSquareToDbfs(static_cast<double>(speechSq3_) / speechSamples3_);
  st.clippedRatio3s = samples3_ > 0 ? static_cast<double>(clipped3_) / (samples3_ * channels_) : 0;
  st.rmsEmaDbfs = ema_;
  st.hasEma = hasEma_;
  st.noiseFloorDbfs = vad_.noiseFloorDbfs();
  st.lastSpokeAtMs = lastSpokeAtMs_;
  st.speechStartedAtMs = muted ? -1 : spurtStartMs_;
  interval_ = LevelSums{};
  sink.onStats(st);
}

void StreamAnalysis::emitSegment(AnalysisSink& sink) {
  sink.onSegment(segmentIndex_++, segmentStartMs_, segmentEndMs_, makeWav(segment_.data(), segment_.size(), static_cast<uint32_t>(sampleRate_), 1));
  segment_.clear();
}

void StreamAnalysis::finish(AnalysisSink& sink) {
  flushPending(sink);
  if (segments_ && segment_.size() >= static_cast<size_t>(sampleRate_ / 2)) emitSegment(sink);
  segment_.clear();
  maybeStats(sink, false, true);
}

}  // namespace meetcore
