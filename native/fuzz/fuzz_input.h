// Reading libFuzzer's input as a stream of small decisions (shared by the fuzz targets in this folder).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace meetcore_fuzz {

/** Consumes the fuzzer's bytes front to back; past the end every read is 0 (so any input is a valid program). */
class Input {
 public:
  Input(const uint8_t* data, size_t size) : p_(data), end_(data + size) {}
  bool empty() const { return p_ >= end_; }
  size_t left() const { return static_cast<size_t>(end_ - p_); }
  uint8_t u8() { return p_ < end_ ? *p_++ : 0; }
  uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
  uint32_t u32() { return u16() | (static_cast<uint32_t>(u16()) << 16); }
  /** A value in lo..hi (inclusive). */
  uint32_t range(uint32_t lo, uint32_t hi) { return lo + (hi > lo ? u32() % (hi - lo + 1) : 0); }
  /** Up to `n` raw bytes (fewer at the end of the input); returns how many. */
  size_t bytes(uint8_t* out, size_t n) {
    size_t k = n < left() ? n : left();
    for (size_t i = 0; i < k; i++) out[i] = p_[i];
    p_ += k;
    return k;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace meetcore_fuzz

/** A model disagreement: print where and abort (libFuzzer saves the input as a crash). */
#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: model check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)
