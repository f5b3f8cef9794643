// The recording file of a stream: a WAV header followed by the PCM exactly as received.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

namespace meetcore {

/**
 * Opened on the JS thread (so a bad path throws to the caller), written only by the stream's worker.
 * `flush()` pushes buffered bytes to the kernel and patches the RIFF and data sizes, so a process killed at
 * any moment leaves a file whose header is at most one flush behind (repaired at next start).
 */
class RecordingFile {
 public:
  /** @throws std::runtime_error with errno text when the file cannot be created. */
  RecordingFile(const std::string& path, uint32_t sampleRate, uint16_t channels);
  ~RecordingFile();
  RecordingFile(const RecordingFile&) = delete;
  RecordingFile& operator=(const RecordingFile&) = delete;

  /** Append PCM bytes; returns false on a write error (see error()). */
  bool write(const uint8_t* data, size_t n);
  /** fflush + patch the header sizes; returns false on error. */
  bool flush();
  /** Final flush and fclose; idempotent. */
  bool close();
  uint64_t dataBytes() const { return dataBytes_; }
  const std::string& error() const { return error_; }

 private:
  bool fail(const char* what);
  FILE* file_ = nullptr;
  uint32_t sampleRate_;
  uint16_t channels_;
  uint64_t dataBytes_ = 0;
  uint64_t patchedBytes_ = UINT64_MAX;
  std::string error_;
};

}  // namespace meetcore
