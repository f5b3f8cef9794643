#include "level.h"

namespace meetcore {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(MEETCORE_NO_CLONES)
#define MEETCORE_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MEETCORE_CLONES
#endif

MEETCORE_CLONES
static LevelSums measureMono(const int16_t* s, size_t n) {
  int64_t sum = 0;
  int32_t peak = 0, clipped = 0;
  for (size_t i = 0; i < n; i++) {
    const int32_t v = s[i];
    sum += v * v;
    const int32_t a = v < 0 ? -v : v;
    peak = a > peak ? a : peak;
    clipped += a >= 32767;
  }
  LevelSums r;
  r.sumSquares = sum;
  r.peak = peak;
  r.clipped = clipped;
  r.frames = static_cast<int32_t>(n);
  return r;
}

MEETCORE_CLONES
static LevelSums measureStereo(const int16_t* s, size_t n) {
  int64_t sum = 0;
  int32_t peak = 0, clipped = 0;
  for (size_t i = 0; i < n; i++) {
    const int32_t l = s[2 * i], r = s[2 * i + 1];
    const int32_t m = (l + r) >> 1;  // floor of the mean: the sign fix of / 2 blocks vectorization
    sum += m * m;
    const int32_t a = m < 0 ? -m : m;
    peak = a > peak ? a : peak;
    const int32_t al = l < 0 ? -l : l, ar = r < 0 ? -r : r;
    clipped += (al >= 32767) + (ar >= 32767);
  }
  LevelSums r;
  r.sumSquares = sum;
  r.peak = peak;
  r.clipped = clipped;
  r.frames = static_cast<int32_t>(n);
  return r;
}

LevelSums measureLevels(const int16_t* samples, size_t frames, int channels) {
  return channels == 2 ? measureStereo(samples, frames) : measureMono(samples, frames);
}

void downmixToMono(const int16_t* samples, size_t frames, int channels, int16_t* out) {
  if (channels == 1) {
    for (size_t i = 0; i < frames; i++) out[i] = samples[i];
    return;
  }
  for (size_t i = 0; i < frames; i++) out[i] = static_cast<int16_t>((samples[2 * i] + samples[2 * i + 1]) >> 1);
}

}  // namespace meetcore
