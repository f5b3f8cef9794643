// The engine core without N-API: ring sizing and overflow accounting, packed stats rows, and delivery that
// never loses `closed`/`error` events when batches are refused (a full JS queue).
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../core/engine.h"
#include "check.h"

using namespace meetcore;

static StreamConfig config(const std::string& participant, int ringMs) {
  StreamConfig c;
  c.meetingId = "m";
  c.participantId = participant;
  c.ringMs = ringMs;
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

static void testRingSizing() {
  StreamConfig c = config("p", 1000);
  CHECK(ringBytes(c) == 192000);  // exact: not rounded up to a power of two
  c.channels = 1;
  c.sampleRate = 44100;
  c.ringMs = 10;
  CHECK(ringBytes(c) == 441 * 2);
  c.sampleRate = 8000;
  c.ringMs = 1;  // 8 frames... a ring is at least 64 bytes
  Stream s(1, c, 250);
  CHECK(s.ringCapacity() == 64);
}

static void testOverflowCounted() {
  std::atomic<int> batches{0};
  Engine engine(EngineConfig{1, 250, 500}, [&](EventBatch&) { batches++; return true; });
  auto a = engine.open(config("a", 100));  // 19200 bytes
  auto b = engine.open(config("b", 100));
  std::vector<uint8_t> big(20000), small(1920);
  a->push(big.data(), big.size());
  b->push(small.data(), small.size());
  CHECK(a->overflowBytes() == 20000);
  CHECK(b->overflowBytes() == 0);
  CHECK(engine.overflowBytes() == 20000);
  a->requestClose();
  b->requestClose();
  engine.stop();
  CHECK(engine.overflowBytes() == 20000);
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

int main() {
  testRingSizing();
  testOverflowCounted();
  testStatsRows();
  testClosedNeverLost();
  testClosedReturnedByStop();
  TEST_MAIN_END();
}
