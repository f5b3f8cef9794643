// Unit tests of native/core/recording: the WAV writer's buffering, byte accounting and what it leaves on disk
// when the disk is full. A full disk is simulated without privileges by RLIMIT_FSIZE: a write crossing the
// limit is cut short, the next one fails (EFBIG, "File too large"), exactly like ENOSPC at a page boundary.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../core/engine.h"
#include "../core/recording.h"
#include "../dsp/wav.h"
#include "check.h"

using namespace meetcore;

static std::string g_dir;

static std::vector<uint8_t> readFile(const std::string& path) {
  std::vector<uint8_t> out;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return out;
  uint8_t buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

static uint32_t le32(const std::vector<uint8_t>& b, size_t at) {
  return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (static_cast<uint32_t>(b[at + 3]) << 24);
}

static bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

static std::vector<uint8_t> pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; i++) v[i] = static_cast<uint8_t>(i * 7 + (i >> 9));
  return v;
}

/** Files written while this is alive may not grow past `bytes` (soft RLIMIT_FSIZE; restored after). */
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    ::getrlimit(RLIMIT_FSIZE, &saved_);
    rlimit r = saved_;
    r.rlim_cur = bytes;
    if (::setrlimit(RLIMIT_FSIZE, &r) != 0) std::perror("setrlimit");
  }
  ~FileSizeLimit() { ::setrlimit(RLIMIT_FSIZE, &saved_); }

 private:
  rlimit saved_{};
};

// Odd-sized writes (smaller than, equal to and much larger than the buffer) reach the file byte for byte;
// dataBytes() counts only what the kernel took, never what still waits in the buffer.
static void testRoundTripAndAccounting() {
  const std::string path = g_dir + "/round.wav";
  const auto data = pattern(3 * RecordingFile::kBufferBytes + 12345);
  {
    RecordingFile f(path, 48000, 2);
    CHECK(readFile(path).size() == kWavHeaderBytes);  // the header is written at once
    CHECK(f.write(data.data(), 100));
    CHECK(f.dataBytes() == 0);
    CHECK(f.bufferedBytes() == 100);
    CHECK(f.flush());
    CHECK(f.dataBytes() == 100);
    auto b = readFile(path);
    CHECK(b.size() == kWavHeaderBytes + 100);
    CHECK(le32(b, kWavDataSizeOffset) == 100 && le32(b, kWavRiffSizeOffset) == 136);
    size_t off = 100;
    for (size_t n : {size_t(1), size_t(3), RecordingFile::kBufferBytes, size_t(7), 2 * RecordingFile::kBufferBytes + 5}) {
      CHECK(f.write(data.data() + off, n));
      off += n;
      // Whatever was handed to the kernel is counted, the rest is buffered: nothing in between.
      CHECK(f.dataBytes() + f.bufferedBytes() == off);
      CHECK(f.bufferedBytes() < RecordingFile::kBufferBytes);
    }
    CHECK(f.write(data.data() + off, data.size() - off));
    CHECK(f.close());
    CHECK(f.dataBytes() == data.size());
    CHECK(!f.failed() && f.error().empty());
  }
  auto b = readFile(path);
  CHECK(b.size() == kWavHeaderBytes + data.size());
  CHECK(std::memcmp(b.data() + kWavHeaderBytes, data.data(), data.size()) == 0);
  CHECK(le32(b, kWavDataSizeOffset) == data.size());
  CHECK(le32(b, kWavRiffSizeOffset) == data.size() + 36);
  // O_EXCL: an existing file is never overwritten.
  bool threw = false;
  try {
    RecordingFile again(path, 48000, 2);
  } catch (const std::runtime_error& e) {
    threw = std::strstr(e.what(), "cannot create recording") && std::strstr(e.what(), std::strerror(EEXIST));
  }
  CHECK(threw);
  CHECK(readFile(path).size() == kWavHeaderBytes + data.size());
}

// The disk fills mid-recording (the limit falls inside a sample frame and inside a 64 KiB block): the write
// that crosses it is short, the next fails. The file is cut to the last whole frame, the header says so,
// dataBytes() equals it and error() is the OS text. Nothing is written afterwards.
static void testFullMidRecording() {
  for (uint16_t channels : {uint16_t(1), uint16_t(2)}) {
    const uint64_t blockAlign = channels * 2u;
    const std::string path = g_dir + "/full-" + std::to_string(channels) + ".wav";
    const uint64_t limit = kWavHeaderBytes + 100003;  // 100003 data bytes fit: not a multiple of 2 or 4
    const auto data = pattern(300000);
    RecordingFile f(path, 48000, channels);
    bool ok = true;
    {
      FileSizeLimit lim(limit);
      for (size_t off = 0; off < data.size() && ok; off += 1920) ok = f.write(data.data() + off, std::min<size_t>(1920, data.size() - off));
      if (ok) ok = f.flush();
    }
    CHECK(!ok);
    CHECK(f.failed());
    CHECK(f.errorNumber() == EFBIG);
    CHECK(f.error() == std::strerror(EFBIG));
    const uint64_t expected = 100003 - 100003 % blockAlign;
    CHECK(f.dataBytes() == expected);
    auto b = readFile(path);
    CHECK(b.size() == kWavHeaderBytes + expected);
    CHECK(le32(b, kWavDataSizeOffset) == expected);
    CHECK(le32(b, kWavRiffSizeOffset) == expected + 36);
    CHECK(std::memcmp(b.data() + kWavHeaderBytes, data.data(), expected) == 0);
    // Stopped for good: later writes and flushes fail and change nothing.
    CHECK(!f.write(data.data(), 4));
    CHECK(!f.flush());
    CHECK(!f.close());
    CHECK(f.dataBytes() == expected);
    CHECK(readFile(path).size() == kWavHeaderBytes + expected);
  }
}

// The disk is full before the first byte: the header cannot be written, the constructor throws the OS text
// and no file is left behind.
static void testFullAtOpen() {
  const std::string path = g_dir + "/no-room.wav";
  std::string what;
  {
    FileSizeLimit lim(20);  // not even the 44-byte header fits
    try {
      RecordingFile f(path, 48000, 2);
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
  }
  CHECK(what == "cannot write recording " + path + ": " + std::strerror(EFBIG));
  CHECK(!exists(path));
  // A folder that does not exist: "cannot create recording".
  what.clear();
  try {
    RecordingFile f(g_dir + "/missing/x.wav", 48000, 2);
  } catch (const std::runtime_error& e) {
    what = e.what();
  }
  CHECK(what.rfind("cannot create recording ", 0) == 0 && what.find(std::strerror(ENOENT)) != std::string::npos);
}

// Through the engine: the failure becomes one `error` event (write_failed, the OS text) and the `closed`
// event's recordedBytes is what the cut file holds.
static void testEngineEvents() {
  const std::string path = g_dir + "/engine.wav";
  std::mutex m;
  std::vector<Event> events;
  const auto data = pattern(48000 * 4);  // 1 s of stereo
  {
    FileSizeLimit lim(kWavHeaderBytes + 70001);
    Engine engine(EngineConfig{1, 250, 500}, [&](EventBatch& b) {
      std::lock_guard<std::mutex> lock(m);
      for (auto& e : b) events.push_back(std::move(e));
      return true;
    });
    StreamConfig c;
    c.meetingId = "m";
    c.participantId = "p";
    c.recordingPath = path;
    auto s = engine.open(c);
    for (size_t off = 0; off < data.size(); off += 1920) s->push(data.data() + off, 1920);
    s->requestClose();
    for (int i = 0; i < 500; i++) {
      {
        std::lock_guard<std::mutex> lock(m);
        bool closed = false;
        for (auto& e : events) closed |= e.type == Event::kClosed;
        if (closed) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    engine.stop();
  }
  int errors = 0, closed = 0;
  uint64_t recorded = UINT64_MAX;
  for (auto& e : events) {
    if (e.type == Event::kError) {
      errors++;
      CHECK(e.code == "write_failed");
      CHECK(e.message == std::strerror(EFBIG));
    }
    if (e.type == Event::kClosed) {
      closed++;
      recorded = e.recordedBytes;
    }
  }
  CHECK(errors == 1);
  CHECK(closed == 1);
  CHECK(recorded == 70000);
  auto b = readFile(path);
  CHECK(b.size() == kWavHeaderBytes + 70000);
  CHECK(le32(b, kWavDataSizeOffset) == 70000);
}

int main() {
  std::signal(SIGXFSZ, SIG_IGN);  // a write over RLIMIT_FSIZE then fails with EFBIG instead of killing us
  char tmpl[] = "/tmp/meetcore-recording-test-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    std::perror("mkdtemp");
    return 1;
  }
  g_dir = tmpl;
  testRoundTripAndAccounting();
  testFullMidRecording();
  testFullAtOpen();
  testEngineEvents();
  std::string cleanup = "rm -rf '" + g_dir + "'";
  if (std::system(cleanup.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", g_dir.c_str());
  TEST_MAIN_END();
}
