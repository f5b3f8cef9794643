// RIFF/WAVE PCM framing (44-byte canonical header; format from the Microsoft RIFF spec / WAVEFORMATEX).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace meetcore {

constexpr size_t kWavHeaderBytes = 44;
/** Offsets of the two size fields patched as data grows. */
constexpr size_t kWavRiffSizeOffset = 4;
constexpr size_t kWavDataSizeOffset = 40;

inline void putLe32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}
inline void putLe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}

/**
 * Write a 44-byte PCM s16le WAV header for `dataBytes` of audio.
 * Sizes above 4 GiB - 45 are clamped (RIFF limit).
 */
inline void writeWavHeader(uint8_t* out, uint32_t sampleRate, uint16_t channels, uint64_t dataBytes) {
  const uint32_t data = dataBytes > 0xFFFFFFFFull - 36 ? 0xFFFFFFFFu - 36 : static_cast<uint32_t>(dataBytes);
  std::memcpy(out, "RIFF", 4);
  putLe32(out + 4, 36 + data);
  std::memcpy(out + 8, "WAVEfmt ", 8);
  putLe32(out + 16, 16);                         // fmt chunk size
  putLe16(out + 20, 1);                          // PCM
  putLe16(out + 22, channels);
  putLe32(out + 24, sampleRate);
  putLe32(out + 28, sampleRate * channels * 2);  // byte rate
  putLe16(out + 32, static_cast<uint16_t>(channels * 2));  // block align
  putLe16(out + 34, 16);                         // bits per sample
  std::memcpy(out + 36, "data", 4);
  putLe32(out + 40, data);
}

}  // namespace meetcore
