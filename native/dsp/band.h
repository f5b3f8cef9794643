// Energy of the speech band for the voice activity detector: the signal averaged over blocks of samples down
// to a 6 kHz rate (a boxcar low-pass, -3 dB near 2.7 kHz) and high-passed at 250 Hz. Broadband noise is spread
// over the whole spectrum while speech energy sits mostly below 3 kHz, so averaging 8 samples at 48 kHz keeps
// the speech and divides white noise power by 8: the VAD gains about 9 dB of SNR on white noise, and hum and
// rumble below 250 Hz no longer count. Levels reported to users stay full-band (level.h).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace meetcore {

/** A second-order IIR section (RBJ audio EQ cookbook), transposed direct form II, double precision. */
struct Biquad {
  double b0 = 1, b1 = 0, b2 = 0, a1 = 0, a2 = 0;
  double z1 = 0, z2 = 0;

  /** Butterworth (Q = 1/√2) high-pass (`highPass`) or low-pass at `f0` Hz for sample rate `fs`. */
  static Biquad butterworth(bool highPass, double f0, double fs) {
    const double w0 = 2.0 * M_PI * f0 / fs, c = std::cos(w0), alpha = std::sin(w0) / (2.0 * M_SQRT1_2);
    const double a0 = 1.0 + alpha;
    Biquad q;
    const double k = highPass ? (1.0 + c) / 2.0 : (1.0 - c) / 2.0;
    q.b0 = k / a0;
    q.b1 = (highPass ? -2.0 * k : 2.0 * k) / a0;
    q.b2 = k / a0;
    q.a1 = -2.0 * c / a0;
    q.a2 = (1.0 - alpha) / a0;
    return q;
  }

  double step(double x) {
    const double y = b0 * x + z1;
    z1 = b1 * x - a1 * y + z2;
    z2 = b2 * x - a2 * y;
    return y;
  }
};

/**
 * Mean square of s16 audio (downmixed to mono) in the speech band: sums over blocks of `sampleRate / 6000`
 * sample frames (any channel count, stereo averaged inside the block), then a Butterworth high-pass at kLowHz
 * at the block rate. The block state carries across calls, so any chunking gives the same result. One biquad
 * per block keeps it cheap (the biquad's recurrence, not the summing, is the cost).
 */
class SpeechBand {
 public:
  static constexpr double kLowHz = 250.0;

  /** @param channels 1 or 2 (interleaved input; stereo is averaged to mono inside the boxcar). */
  SpeechBand(int sampleRate, int channels)
      : channels_(channels),
        decimation_(sampleRate >= 12000 ? sampleRate / 6000 : 1),
        scale_(1.0 / (decimation_ * channels)),
        hp_(Biquad::butterworth(true, kLowHz, static_cast<double>(sampleRate) / decimation_)) {}

  /** Filter `frames` sample frames of interleaved s16, accumulating the output energy. */
  void add(const int16_t* x, size_t frames) {
    if (channels_ == 2 && decimation_ == 8) {
      addBlocks<16>(x, frames);  // 48 kHz stereo, LiveKit's format: a constant-length inner sum
    } else {
      addGeneric(x, frames);
    }
  }

  /** Mean square (s16 scale) of the output since the last call; 0 when there was none. Resets the sum. */
  double takeMeanSquare() {
    const double ms = count_ > 0 ? sum_ / count_ : 0.0;
    sum_ = 0;
    count_ = 0;
    return ms;
  }

 private:
  template <size_t kBlock>
  void addBlocks(const int16_t* x, size_t frames) {
    const size_t c = static_cast<size_t>(channels_);
    size_t i = 0;
    while (accCount_ > 0 && i < frames) addFrame(x + c * i++);  // finish the block left open by the last call
    for (; i + kBlock / c <= frames; i += kBlock / c) {
      const int16_t* p = x + c * i;
      int32_t sum = 0;
      for (size_t k = 0; k < kBlock; k++) sum += p[k];
      emit(sum);
    }
    for (; i < frames; i++) addFrame(x + c * i);
  }

  void addGeneric(const int16_t* x, size_t frames) {
    for (size_t i = 0; i < frames; i++) addFrame(x + static_cast<size_t>(channels_) * i);
  }

  void addFrame(const int16_t* f) {
    for (int k = 0; k < channels_; k++) acc_ += f[k];
    if (++accCount_ == decimation_) {
      emit(acc_);
      acc_ = 0;
      accCount_ = 0;
    }
  }

  void emit(int32_t blockSum) {
    const double y = hp_.step(blockSum * scale_);
    sum_ += y * y;
    count_++;
  }

  const int channels_;
  const int decimation_;
  const double scale_;
  Biquad hp_;
  int32_t acc_ = 0;
  int accCount_ = 0;
  double sum_ = 0;
  int64_t count_ = 0;
};

}  // namespace meetcore
