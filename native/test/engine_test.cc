// The engine core without N-API: queue bounds, lossless bursts, gaps past a bound, packed stats rows, and delivery that
// never loses `closed`/`error` events when batches are refused (a full JS queue).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../core/engine.h"
#include "check.h"

using namespace meetcore;

static StreamConfig config(const std::string& participant, int maxQueueMs) {
  StreamConfig c;
  c.meetingId = "m";
  c.participantId = participant;
  c.maxQueueMs = maxQueueMs;
  return c;
}

template <typename F>
static bool waitUntil(F done, int ms = 5000) {
  for (int i = 0; i < ms / 5; i++) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

static std::string tmpFile(const char* name) {
  static std::string dir = [] {
    char t[] = "/tmp/meetcore-engine-test-XXXXXX";
    return std::string(mkdtemp(t));
  }();
  return dir + "/" + name;
}

static std::vector<uint8_t> readData(const std::string& path) {
  std::vector<uint8_t> all;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    uint8_t buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) all.insert(all.end(), buf, buf + n);
    std::fclose(f);
  }
  return all.size() >= 44 ? std::vector<uint8_t>(all.begin() + 44, all.end()) : std::vector<uint8_t>();
}

/** Collects the `closed` events of an engine. */
struct Closed {
  std::mutex m;
  std::vector<Event> events;
  Engine::Deliver deliver() {
    return [this](EventBatch& b) {
      std::lock_guard<std::mutex> lock(m);
      for (auto& e : b.events) if (e.type == Event::kClosed) events.push_back(e);
      return true;
    };
  }
};

static void testQueueBoundSizing() {
  StreamConfig c = config("p", 1000);
  CHECK(queueBoundBytes(c) == 192000);
  c.channels = 1;
  c.sampleRate = 44100;
  c.maxQueueMs = 10;
  CHECK(queueBoundBytes(c) == 441 * 2);
  c.maxQueueMs = 30000;
  c.sampleRate = 48000;
  c.channels = 2;
  CHECK(queueBoundBytes(c) == 5760000);
}

// 30 s of 48 kHz stereo pushed at once (as a network stall releases it) is recorded whole, byte for byte.
static void testBurstLossless() {
  Closed closed;
  Engine engine(EngineConfig{1, 250, 500}, closed.deliver());
  StreamConfig c = config("p", 60000);
  c.recordingPath = tmpFile("burst.wav");
  auto s = engine.open(c);
  std::vector<uint8_t> pcm(30 * 192000);
  for (size_t i = 0; i < pcm.size(); i++) pcm[i] = static_cast<uint8_t>(i * 7 + (i >> 10));
  for (size_t off = 0; off < pcm.size(); off += 1920) CHECK(s->push(pcm.data() + off, 1920) == PushResult::kOk);
  s->requestClose();
  engine.stop();
  CHECK(s->overflowBytes() == 0);
  CHECK(engine.queuedBytes() == 0);
  CHECK(engine.blocksInUse() == 0);  // the finished stream's blocks are back
  CHECK(readData(c.recordingPath) == pcm);
  std::lock_guard<std::mutex> lock(closed.m);
  CHECK(closed.events.size() == 1 && closed.events[0].gaps.empty() && closed.events[0].recordedBytes == pcm.size());
}

// Past its own bound a stream loses the push (and every later one), counts it, and its `closed` event lists the
// gap at the data offset where the loss began; what came before is recorded.
static void testStreamBoundGap() {
  Closed closed;
  Engine engine(EngineConfig{1, 250, 500}, closed.deliver());
  StreamConfig c = config("a", 100);  // 19200 bytes
  c.recordingPath = tmpFile("bound.wav");
  auto a = engine.open(c);
  auto b = engine.open(config("b", 100));
  std::vector<uint8_t> first(9600, 1), big(20000, 2), small(1920, 3);
  CHECK(a->push(first.data(), first.size()) == PushResult::kOk);
  CHECK(a->push(big.data(), big.size()) == PushResult::kOverStreamBound);
  CHECK(a->push(small.data(), small.size()) == PushResult::kOverStreamBound);  // later pushes lost too
  CHECK(b->push(small.data(), small.size()) == PushResult::kOk);
  CHECK(a->overflowBytes() == 21920);
  CHECK(b->overflowBytes() == 0);
  CHECK(engine.overflowBytes() == 21920);
  CHECK(engine.streamsOverStreamBound() == 1);
  CHECK(engine.streamsOverGlobalBound() == 0);
  a->requestClose();
  b->requestClose();
  engine.stop();
  CHECK(readData(c.recordingPath) == first);
  std::lock_guard<std::mutex> lock(closed.m);
  bool seen = false;
  for (auto& e : closed.events) {
    if (e.stream->id != a->id()) continue;
    seen = true;
    CHECK(e.recordedBytes == 9600);
    CHECK(e.gaps.size() == 1);
    if (e.gaps.size() == 1) {
      CHECK(e.gaps[0].offset == 9600);
      CHECK(e.gaps[0].bytes == 21920);
    }
  }
  CHECK(seen);
}

// The engine's bound: a push needing blocks the pool no longer has is refused whole and counted.
static void testGlobalBound() {
  Closed closed;
  EngineConfig ec{1, 250, 500};
  ec.maxQueueBytes = 4 * kBlockBytes;
  Engine engine(ec, closed.deliver());
  auto s = engine.open(config("p", 60000));
  std::vector<uint8_t> big(4 * kBlockBytes + 1);  // its first block + 4 more: 5 > 4
  CHECK(s->push(big.data(), big.size()) == PushResult::kOverGlobalBound);
  CHECK(engine.streamsOverGlobalBound() == 1);
  CHECK(engine.blocksInUse() == 1);  // the blocks taken for the refused push were handed back
  CHECK(s->overflowBytes() == big.size());
  s->requestClose();
  engine.stop();
  CHECK(engine.blocksInUse() == 0);
}

static void testStatsRows() {
  CHECK(kStatsFieldCount == 18);
  CHECK(std::strcmp(statsFieldNames()[kStats_streamId], "streamId") == 0);
  CHECK(std::strcmp(statsFieldNames()[kStatsFieldCount - 1], "recordedBytes") == 0);
  std::mutex m;
  std::vector<double> rows;
  Engine engine(EngineConfig{1, 100, 500}, [&](EventBatch& b) {
    std::lock_guard<std::mutex> lock(m);
    rows.insert(rows.end(), b.stats.begin(), b.stats.end());
    return true;
  });
  auto s = engine.open(config("p", 2000));
  std::vector<uint8_t> pcm(48000 * 4, 0);  // 1 s of digital silence
  s->push(pcm.data(), pcm.size());
  s->requestClose();
  waitUntil([&] { std::lock_guard<std::mutex> lock(m); return rows.size() >= 10 * kStatsFieldCount; });
  engine.stop();
  std::lock_guard<std::mutex> lock(m);
  CHECK(rows.size() % kStatsFieldCount == 0);
  CHECK(rows.size() / kStatsFieldCount >= 10);
  for (size_t at = 0; at < rows.size(); at += kStatsFieldCount) {
    CHECK(rows[at + kStats_streamId] == s->id());
    CHECK(rows[at + kStats_speaking] == 0);
    CHECK(std::isnan(rows[at + kStats_lastSpokeAtMs]));  // never spoke: NaN (null in TypeScript)
  }
}

// While the queue refuses every batch, stats are dropped and counted, but each stream's `closed` event is kept
// and delivered once batches are accepted again, exactly once.
static void testClosedNeverLost() {
  std::atomic<bool> refuse{true};
  std::mutex m;
  std::vector<uint32_t> closed;
  Engine engine(EngineConfig{2, 50, 500}, [&](EventBatch& b) {
    if (refuse.load()) return false;
    std::lock_guard<std::mutex> lock(m);
    for (auto& e : b.events) if (e.type == Event::kClosed) closed.push_back(e.stream->id);
    b.events.clear();
    return true;
  });
  std::vector<std::shared_ptr<Stream>> streams;
  std::vector<uint8_t> pcm(48000 * 4 / 2);
  for (int i = 0; i < 4; i++) {
    StreamConfig c = config("p" + std::to_string(i), 1000);
    c.meetingId = "m" + std::to_string(i);
    streams.push_back(engine.open(c));
    streams.back()->push(pcm.data(), pcm.size());
    streams.back()->requestClose();
  }
  CHECK(waitUntil([&] { return engine.droppedBatches() >= 4 && engine.hasCarry(); }));
  refuse = false;
  CHECK(waitUntil([&] { std::lock_guard<std::mutex> lock(m); return closed.size() == 4; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  engine.stop();
  std::lock_guard<std::mutex> lock(m);
  CHECK(closed.size() == 4);
  CHECK(!engine.hasCarry());
}

// Refused until the end: stop() hands the kept `closed` events to the caller.
static void testClosedReturnedByStop() {
  Engine engine(EngineConfig{1, 50, 500}, [&](EventBatch&) { return false; });
  auto s = engine.open(config("p", 1000));
  std::vector<uint8_t> pcm(19200);
  s->push(pcm.data(), pcm.size());
  s->requestClose();
  CHECK(waitUntil([&] { return engine.hasCarry(); }));
  EventBatch final = engine.stop();
  int n = 0;
  for (auto& e : final) n += e.type == Event::kClosed && e.stream->id == s->id();
  CHECK(n == 1);
  CHECK(engine.droppedBatches() >= 1);
}

/** Push `bytes` at once to a worker whose timer is 60 s: the queue must still be drained (the wait is a 5 s
 *  timeout, not a speed target). */
static void checkDrainedWithoutTimer(size_t bytes) {
  Closed closed;
  EngineConfig ec{1, 250, 500};
  ec.tickMs = 60000;
  Engine engine(ec, closed.deliver());
  auto s = engine.open(config("p", 60000));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the worker took the new stream and sleeps again
  std::vector<uint8_t> pcm(bytes);
  CHECK(s->push(pcm.data(), pcm.size()) == PushResult::kOk);
  CHECK(waitUntil([&] { return s->queuedBytes() == 0; }, 5000));
  CHECK(engine.queuedBytes() == 0);
  s->requestClose();
  engine.stop();
}

/** A push that leaves more than kWakeQueuedBytes queued wakes the worker at once. */
static void testPushWakesWorker() { checkDrainedWithoutTimer(kWakeQueuedBytes + 1920); }

/** A burst larger than a pass drains (kDrainPassBytes, ~14 s of 48 kHz stereo here) is drained over several
 *  passes: a pass that leaves bytes queued starts the next one. */
static void testBurstDrainsInPasses() { checkDrainedWithoutTimer(10 * kDrainPassBytes + 1920); }

int main() {
  testPushWakesWorker();
  testBurstDrainsInPasses();
  testQueueBoundSizing();
  testBurstLossless();
  testStreamBoundGap();
  testGlobalBound();
  testStatsRows();
  testClosedNeverLost();
  testClosedReturnedByStop();
  TEST_MAIN_END();
}
