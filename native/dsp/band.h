// Energy of the speech band (about 250..3400 Hz, the telephone band) for the voice activity detector.
// Broadband noise is spread over the whole spectrum while speech energy sits mostly in this band, so the
// VAD judging band energy gains about 9 dB of SNR on white noise at 48 kHz (24 000 / 3 150 Hz of bandwidth)
// and ignores hum and rumble below 250 Hz. Levels reported to users stay full-band (level.h).
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
 * Mean square of mono s16 audio band-limited to SpeechBand::kLowHz..kHighHz. The input is first averaged over
 * blocks of `decimation` samples (a boxcar low-pass, down to 12..16 kHz) so that the two biquads run at a
 * quarter of 48 kHz; the boxcar state carries across calls, so any chunking gives the same result.
 */
class SpeechBand {
 public:
  static constexpr double kLowHz = 250.0;
  static constexpr double kHighHz = 3400.0;

  explicit SpeechBand(int sampleRate)
      : decimation_(sampleRate >= 24000 ? sampleRate / 12000 : 1),
        hp_(Biquad::butterworth(true, kLowHz, static_cast<double>(sampleRate) / decimation_)),
        lp_(Biquad::butterworth(false, kHighHz, static_cast<double>(sampleRate) / decimation_)) {}

  /** Filter `n` mono samples, accumulating the output energy. */
  void add(const int16_t* x, size_t n) {
    for (size_t i = 0; i < n; i++) {
      acc_ += x[i];
      if (++accCount_ < decimation_) continue;
      const double y = lp_.step(hp_.step(static_cast<double>(acc_) / decimation_));
      sum_ += y * y;
      count_++;
      acc_ = 0;
      accCount_ = 0;
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
  const int decimation_;
  Biquad hp_, lp_;
  int32_t acc_ = 0;
  int accCount_ = 0;
  double sum_ = 0;
  int64_t count_ = 0;
};

}  // namespace meetcore
