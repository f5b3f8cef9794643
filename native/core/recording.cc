#include "recording.h"

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "../dsp/wav.h"

namespace meetcore {

namespace {

/** Write all of `n` bytes with write(2) at the current offset (`at` < 0) or pwrite(2) at `at`; EINTR retried,
 *  partial writes continued. `done` counts what the kernel accepted. Returns false with errno set on an error
 *  (a 0-byte write counts as ENOSPC). */
bool writeAll(int fd, const uint8_t* p, size_t n, uint64_t& done, off_t at = -1) {
  while (n > 0) {
    const ssize_t w = at < 0 ? ::write(fd, p, n) : ::pwrite(fd, p, n, at);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (w == 0) {
      errno = ENOSPC;
      return false;
    }
    done += static_cast<uint64_t>(w);
    p += w;
    n -= static_cast<size_t>(w);
    if (at >= 0) at += w;
  }
  return true;
}

}  // namespace

RecordingFile::RecordingFile(const std::string& path, uint32_t sampleRate, uint16_t channels)
    : path_(path), sampleRate_(sampleRate), channels_(channels) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);  // mode as fopen: umask applies
  if (fd_ < 0) throw std::runtime_error("cannot create recording " + path + ": " + std::strerror(errno));
  uint8_t header[kWavHeaderBytes];
  writeWavHeader(header, sampleRate_, channels_, 0);
  uint64_t written = 0;
  if (!writeAll(fd_, header, sizeof header, written)) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    ::unlink(path.c_str());  // created above (O_EXCL): a file without even its header is never left behind
    throw std::runtime_error("cannot write recording " + path + ": " + std::strerror(err));
  }
  buf_.reset(new uint8_t[kBufferBytes]);
}

RecordingFile::~RecordingFile() { close(); }

bool RecordingFile::fail(int err, const char* what) {
  if (failed_) return false;
  failed_ = true;
  errno_ = err;
  error_ = what ? std::string(what) + ": " + std::strerror(err) : std::string(std::strerror(err));
  bufLen_ = 0;  // never written: dropped
  if (fd_ < 0 || what != nullptr) return false;  // a header or close failure: the data length is not in question
  // Keep only whole sample frames of what the kernel accepted, and make the header say so.
  const uint64_t blockAlign = static_cast<uint64_t>(channels_) * 2;
  const uint64_t keep = dataBytes_ - dataBytes_ % blockAlign;
  if (::ftruncate(fd_, static_cast<off_t>(kWavHeaderBytes + keep)) == 0) {
    dataBytes_ = keep;
  } else {
    error_ += std::string("; cutting the file back failed: ") + std::strerror(errno);
  }
  if (!patchHeader()) error_ += std::string("; updating the WAV header failed: ") + std::strerror(errno);
  return false;
}

bool RecordingFile::writeData(const uint8_t* p, size_t n) { return writeAll(fd_, p, n, dataBytes_); }

bool RecordingFile::writeBuffer() {
  if (bufLen_ == 0) return true;
  if (!writeData(buf_.get(), bufLen_)) return fail(errno, nullptr);
  bufLen_ = 0;
  return true;
}

bool RecordingFile::patchHeader() {
  // The whole 44-byte header in one pwrite (the sizes are at offsets 4 and 40; the rest is unchanged).
  uint8_t header[kWavHeaderBytes];
  writeWavHeader(header, sampleRate_, channels_, dataBytes_);
  uint64_t patched = 0;
  if (!writeAll(fd_, header, sizeof header, patched, 0)) return false;
  patchedBytes_ = dataBytes_;
  return true;
}

bool RecordingFile::write(const uint8_t* data, size_t n) {
  if (failed_ || fd_ < 0) return false;
  if (n <= kBufferBytes - bufLen_) {  // the common case: a memcpy
    std::memcpy(buf_.get() + bufLen_, data, n);
    bufLen_ += n;
    return true;
  }
  // Top the buffer up and write it, then any whole blocks straight from `data`, then buffer the rest.
  const size_t top = kBufferBytes - bufLen_;
  std::memcpy(buf_.get() + bufLen_, data, top);
  bufLen_ = kBufferBytes;
  data += top;
  n -= top;
  if (!writeBuffer()) return false;
  const size_t direct = n - n % kBufferBytes;
  if (direct > 0) {
    if (!writeData(data, direct)) return fail(errno, nullptr);
    data += direct;
    n -= direct;
  }
  std::memcpy(buf_.get(), data, n);
  bufLen_ = n;
  return true;
}

bool RecordingFile::flush() {
  if (failed_ || fd_ < 0) return false;
  if (!writeBuffer()) return false;
  if (patchedBytes_ == dataBytes_) return true;
  if (!patchHeader()) return fail(errno, "updating the WAV header");
  return true;
}

bool RecordingFile::close() {
  if (fd_ < 0) return !failed_;
  const bool ok = flush();
  const int fd = fd_;
  fd_ = -1;
  // The header and data were handed over; a delayed write-back error shows here (nothing left to cut).
  if (::close(fd) != 0 && ok) fail(errno, "closing the file");
  return !failed_;
}

}  // namespace meetcore
