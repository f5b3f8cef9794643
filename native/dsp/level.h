// Level measurements over interleaved PCM s16le: the hot kernel of the analysis.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace meetcore {

/** Sums over a run of sample frames, downmixed to mono ((L + R) / 2 for stereo). */
struct LevelSums {
  /** Sum of squared mono samples (full scale 32767² per sample). */
  int64_t sumSquares = 0;
  /** Largest |mono sample| (0..32768). */
  int32_t peak = 0;
  /** Input samples at ±full scale (either channel; |s| ≥ 32767). */
  int32_t clipped = 0;
  /** Sample frames measured. */
  int32_t frames = 0;

  void add(const LevelSums& o) {
    sumSquares += o.sumSquares;
    if (o.peak > peak) peak = o.peak;
    clipped += o.clipped;
    frames += o.frames;
  }
};

/**
 * Measure `frames` sample frames of interleaved s16 (`channels` 1 or 2), downmixing stereo to mono.
 * Plain loops written for the auto-vectorizer; built for AVX2 and baseline x86-64 (target_clones) where the
 * compiler supports it.
 */
LevelSums measureLevels(const int16_t* samples, size_t frames, int channels);

/** Downmix `frames` interleaved sample frames to mono s16 ((L + R) / 2, rounded toward zero). */
void downmixToMono(const int16_t* samples, size_t frames, int channels, int16_t* out);

/**
 * RMS in dBFS of a mean square, with the full-scale *sine* reference of AES17 turned off: 0 dBFS is a
 * square wave at 32767, so a full-scale sine reads -3.01 dBFS. Returns -INFINITY... clamped to -120.
 */
inline double meanSquareToDbfs(double meanSquare) {
  constexpr double kFullScale2 = 32767.0 * 32767.0;
  if (meanSquare <= 0) return -120.0;
  const double db = 10.0 * std::log10(meanSquare / kFullScale2);
  return db < -120.0 ? -120.0 : db;
}

/** Peak amplitude (0..32768) in dBFS re 32767, clamped to [-120, +0.0003]. */
inline double peakToDbfs(int32_t peak) {
  if (peak <= 0) return -120.0;
  const double db = 20.0 * std::log10(peak / 32767.0);
  return db < -120.0 ? -120.0 : db;
}

}  // namespace meetcore
