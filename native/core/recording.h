// The recording file of a stream: a WAV header followed by the PCM exactly as received.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace meetcore {

/**
 * Opened on the JS thread (so a bad path or a full disk throws to the caller), written only by the stream's
 * worker. Writes go through an own 64 KiB buffer to write(2) on a file descriptor: `write()` is a memcpy
 * until the buffer is full, then the buffer (and any further whole 64 KiB of the same call) goes to the
 * kernel in one call. `flush()` pushes the buffer to the kernel and patches the RIFF and data sizes (one
 * pwrite of the header), so a process killed at any moment leaves a file whose header is at most one flush
 * behind (repaired at next start).
 *
 * Byte accounting: `dataBytes()` counts only data bytes the kernel accepted (partial writes included,
 * buffered bytes not). On the first write error (ENOSPC, EDQUOT, EIO, ...) the writer stops for good: the
 * file is cut back (ftruncate) to the header plus the last whole sample frame (blockAlign = channels * 2),
 * the header sizes are patched to match, `dataBytes()` becomes that length and `error()` the OS text
 * (strerror, e.g. "No space left on device"). After that the header and `dataBytes()` agree with the file,
 * unless the header itself cannot be written (then `error()` says so, and the start-up repair fixes the sizes).
 */
class RecordingFile {
 public:
  /** Size of the write buffer: the kernel sees writes of this size (or a flush's remainder). */
  static constexpr size_t kBufferBytes = 64 * 1024;

  /**
   * Create `path` (O_EXCL: an existing file is never overwritten) and write the 44-byte header.
   * @throws std::runtime_error "cannot create recording <path>: <strerror>" when the file cannot be created,
   *   "cannot write recording <path>: <strerror>" when the header cannot be written (the file is then
   *   removed again: nothing is left behind).
   */
  RecordingFile(const std::string& path, uint32_t sampleRate, uint16_t channels);
  ~RecordingFile();
  RecordingFile(const RecordingFile&) = delete;
  RecordingFile& operator=(const RecordingFile&) = delete;

  /** Append `n` PCM bytes. Returns false on a write error (now or earlier; see error()): nothing more is written. */
  bool write(const uint8_t* data, size_t n);
  /** Write the buffer to the kernel and patch the header sizes; returns false on error. */
  bool flush();
  /** Final flush and close(2); idempotent. Returns false when any write, the header patch or close failed. */
  bool close();
  /** Data bytes (header excluded) the kernel accepted; after a failure, the data bytes the cut file holds. */
  uint64_t dataBytes() const { return dataBytes_; }
  /** Bytes waiting in the buffer (not yet handed to the kernel). */
  size_t bufferedBytes() const { return bufLen_; }
  bool failed() const { return failed_; }
  /** Empty, or the first failure: the OS text, prefixed by the step when it was not a data write. */
  const std::string& error() const { return error_; }
  /** errno of the first failure (0 when none). */
  int errorNumber() const { return errno_; }

 private:
  /** write(2) all of `p`, retrying on EINTR and after partial writes; counts accepted bytes. errno set on false. */
  bool writeData(const uint8_t* p, size_t n);
  bool writeBuffer();
  bool patchHeader();
  /** Record the first failure and stop writing. `what` null: a data write failed, so the file is cut back to
   *  whole sample frames and the header patched; else the step that failed (header patch, close). */
  bool fail(int err, const char* what);

  int fd_ = -1;
  std::string path_;
  uint32_t sampleRate_;
  uint16_t channels_;
  std::unique_ptr<uint8_t[]> buf_;
  size_t bufLen_ = 0;
  uint64_t dataBytes_ = 0;
  uint64_t patchedBytes_ = 0;
  bool failed_ = false;
  int errno_ = 0;
  std::string error_;
};

}  // namespace meetcore
