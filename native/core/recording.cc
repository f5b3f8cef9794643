#include "recording.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <unistd.h>

#include "../dsp/wav.h"

namespace meetcore {

RecordingFile::RecordingFile(const std::string& path, uint32_t sampleRate, uint16_t channels)
    : sampleRate_(sampleRate), channels_(channels) {
  file_ = std::fopen(path.c_str(), "wb");
  if (!file_) throw std::runtime_error("cannot create recording " + path + ": " + std::strerror(errno));
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 16);
  uint8_t header[kWavHeaderBytes];
  writeWavHeader(header, sampleRate_, channels_, 0);
  if (std::fwrite(header, 1, sizeof header, file_) != sizeof header || std::fflush(file_) != 0) {
    const std::string why = std::strerror(errno);
    std::fclose(file_);
    file_ = nullptr;
    throw std::runtime_error("cannot write recording " + path + ": " + why);
  }
}

RecordingFile::~RecordingFile() { close(); }

bool RecordingFile::fail(const char* what) {
  if (error_.empty()) error_ = std::string(what) + ": " + std::strerror(errno);
  return false;
}

bool RecordingFile::write(const uint8_t* data, size_t n) {
  if (!file_) return false;
  if (std::fwrite(data, 1, n, file_) != n) return fail("write failed");
  dataBytes_ += n;
  return true;
}

bool RecordingFile::flush() {
  if (!file_) return false;
  if (std::fflush(file_) != 0) return fail("flush failed");
  if (patchedBytes_ == dataBytes_) return true;
  // The RIFF size covers the data actually written; an odd trailing byte stays outside the data chunk size
  // only if the writer cut a sample, which the repair at start-up handles.
  uint8_t header[kWavHeaderBytes];
  writeWavHeader(header, sampleRate_, channels_, dataBytes_);
  const int fd = fileno(file_);
  if (pwrite(fd, header + kWavRiffSizeOffset, 4, kWavRiffSizeOffset) != 4 ||
      pwrite(fd, header + kWavDataSizeOffset, 4, kWavDataSizeOffset) != 4) {
    return fail("header update failed");
  }
  patchedBytes_ = dataBytes_;
  return true;
}

bool RecordingFile::close() {
  if (!file_) return error_.empty();
  const bool ok = flush();
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!closed) return fail("close failed");
  return ok;
}

}  // namespace meetcore
