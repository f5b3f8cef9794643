// Voice activity detection on 10 ms frame energies with an adaptive noise floor.
#pragma once
#include <cstdint>

namespace meetcore {

/**
 * Energy VAD for 10 ms frames, in two stages.
 *
 * 1. Voicing (process): a frame is voiced when its energy is kThresholdDb above an adaptive noise floor and
 *    above kAbsoluteMinDbfs, and no more than kBelowPeakDb under a slowly decaying peak of recent frame
    energies (breaths and room tone between words are not speech, at any gain). The floor follows frame energy down at once and rises slowly (faster outside
 *    voicing), so it settles on the background whatever its level: quiet speech on silence is found, steady
 *    noise at any level is not speech once the floor has met it. Steady-noise guard: a voiced run of
 *    kSteadyFrames whose energy range stays under kSteadyRangeDb (speech is modulated by syllables, ~4 Hz,
 *    10+ dB; stationary noise moves < 2 dB) resets the floor to its level, so a noise that starts abruptly
 *    is taken for speech for about a second at most.
 * 2. Smoothing (SpeechSmoother): an isolated voiced frame is dropped and an unvoiced gap shorter than
 *    kBridgeFrames between voiced frames is bridged, so talk spurts have the boundaries of the voicing itself
 *    (no hangover tail). Each decision is emitted as soon as it is final: at once for a voiced frame after a
 *    voiced one, one frame later for a voiced frame after an unvoiced one, and for an unvoiced frame when the
 *    next voiced frame arrives or the gap has reached kBridgeFrames (at most kLookaheadFrames later).
 */
class Vad {
 public:
  static constexpr double kThresholdDb = 6.0;
  static constexpr double kAbsoluteMinDbfs = -85.0;
  static constexpr double kRiseDbPerFrame = 0.02;           // 2 dB/s outside voicing
  static constexpr double kRiseInSpeechDbPerFrame = 0.005;  // 0.5 dB/s inside it
  static constexpr double kBelowPeakDb = 40.0;              // frames 40 dB under the speaker's level are pauses
  static constexpr double kPeakDecayDbPerFrame = 0.01;      // 1 dB/s
  static constexpr int kSteadyFrames = 100;
  static constexpr double kSteadyRangeDb = 6.0;

  /** Feed one 10 ms frame energy (dBFS); returns whether the frame is voiced (unsmoothed). */
  bool process(double energyDbfs);

  bool voiced() const { return voiced_; }
  double noiseFloorDbfs() const { return floor_; }

 private:
  bool initialized_ = false;
  double floor_ = -120.0;
  double peak_ = -120.0;
  bool voiced_ = false;
  // Energy range of the current voiced run (steady-noise guard).
  int steadyRun_ = 0;
  double runMin_ = 0, runMax_ = 0, runSum_ = 0;
};

/**
 * The smoothing stage: voiced flags in, speech decisions out in order, each as soon as it is final (no later
 * flag can change it; see Vad, stage 2), at most kLookaheadFrames after its frame. After each `push`, `pop`
 * until it returns false. The decisions are those of a fixed kLookaheadFrames delay, only earlier.
 */
class SpeechSmoother {
 public:
  static constexpr int kLookaheadFrames = 10;  // 100 ms: the longest a decision waits
  static constexpr int kBridgeFrames = 10;     // gaps under 100 ms are bridged (as in the fixtures' annotation)

  /** Add the next frame's voiced flag (at most kLookaheadFrames undecided ones are pending before it). */
  void push(bool voiced);
  /** The oldest pending frame's decision into `speech` when it is final; false (nothing taken) otherwise. */
  bool pop(bool& speech);
  /** End of input: decide the next pending frame (as if silence followed); false when none is left. */
  bool drain(bool& speech);
  int pending() const { return count_; }
  void reset() { count_ = 0; head_ = 0; sinceVoiced_ = kBridgeFrames + 1; }

 private:
  bool decideOldest();
  /** No flag pushed later can change the oldest pending frame's decision. */
  bool oldestFinal() const;
  static constexpr int kSize = kLookaheadFrames + 1;
  bool flags_[kSize] = {};
  int head_ = 0, count_ = 0;
  // Decided frames since the last voiced one (before the oldest pending frame).
  int sinceVoiced_ = kBridgeFrames + 1;
  bool prevVoiced_ = false;
};

}  // namespace meetcore
