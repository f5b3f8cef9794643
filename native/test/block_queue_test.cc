// BlockPool and BlockQueue (native/core/block_queue.h): bytes come out as they went in across block
// boundaries, drained blocks go back to the pool, both bounds refuse a write whole (the blocks taken for it
// are handed back), the pool keeps at most `keepFree` blocks, clear() returns everything.
#include <cstring>
#include <memory>
#include <vector>

#include "../core/block_queue.h"
#include "check.h"

using namespace meetcore;

static std::vector<uint8_t> pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; i++) v[i] = static_cast<uint8_t>((i * 131 + seed * 7 + (i >> 8)) & 0xff);
  return v;
}

/** Drain everything queued into `out` (span by span, as a worker does). */
static void drainAll(BlockQueue& q, std::vector<uint8_t>& out) {
  for (;;) {
    BlockQueue::Span s = q.peek();
    if (s.size == 0) return;
    out.insert(out.end(), s.data, s.data + s.size);
    q.consume(s.size);
  }
}

static void testRoundTripAcrossBlocks() {
  auto pool = std::make_shared<BlockPool>(1000, 4);
  BlockQueue q(pool, 10 * kBlockBytes);
  CHECK(pool->inUse() == 1);  // the first block, taken at once
  std::vector<uint8_t> in, out;
  const size_t sizes[] = {1, 1919, 1920, kBlockBytes - 3840, 7, kBlockBytes, 3 * kBlockBytes + 5, 1};
  uint32_t seed = 0;
  for (size_t n : sizes) {
    auto chunk = pattern(n, seed++);
    CHECK(q.write(chunk.data(), chunk.size()) == BlockQueue::WriteResult::kOk);
    in.insert(in.end(), chunk.begin(), chunk.end());
    if (seed % 3 == 0) drainAll(q, out);  // interleaved reads
  }
  CHECK(q.queuedBytes() == in.size() - out.size());
  drainAll(q, out);
  CHECK(out == in);
  CHECK(q.queuedBytes() == 0);
  CHECK(q.writePosition() == in.size());
  // Everything drained: only the block the producer writes on into is still held.
  CHECK(pool->inUse() == 1);
  CHECK(pool->freeBlocks() <= 4);
}

static void testSpansStayInOneBlock() {
  auto pool = std::make_shared<BlockPool>(100, 100);
  BlockQueue q(pool, 8 * kBlockBytes);
  auto chunk = pattern(2 * kBlockBytes + 100, 1);
  CHECK(q.write(chunk.data(), chunk.size()) == BlockQueue::WriteResult::kOk);
  CHECK(pool->inUse() == 3);
  BlockQueue::Span s = q.peek();
  CHECK(s.size == kBlockBytes);
  CHECK(std::memcmp(s.data, chunk.data(), s.size) == 0);
  q.consume(100);
  s = q.peek();
  CHECK(s.size == kBlockBytes - 100);
  q.consume(s.size);  // the first block is read to its end and the next exists: handed back at once
  CHECK(pool->inUse() == 2);
  CHECK(pool->freeBlocks() == 1);
  s = q.peek();
  CHECK(s.size == kBlockBytes);
  CHECK(std::memcmp(s.data, chunk.data() + kBlockBytes, s.size) == 0);
}

static void testStreamBound() {
  auto pool = std::make_shared<BlockPool>(100, 4);
  BlockQueue q(pool, 1000);
  auto a = pattern(600, 1), b = pattern(500, 2);
  CHECK(q.write(a.data(), a.size()) == BlockQueue::WriteResult::kOk);
  CHECK(q.write(b.data(), b.size()) == BlockQueue::WriteResult::kOverStreamBound);  // 1100 > 1000
  CHECK(q.queuedBytes() == 600);  // nothing of b
  std::vector<uint8_t> out;
  drainAll(q, out);
  CHECK(q.write(b.data(), b.size()) == BlockQueue::WriteResult::kOk);  // room again once drained
  drainAll(q, out);
  std::vector<uint8_t> want(a);
  want.insert(want.end(), b.begin(), b.end());
  CHECK(out == want);
  auto huge = pattern(1001, 3);
  CHECK(q.write(huge.data(), huge.size()) == BlockQueue::WriteResult::kOverStreamBound);  // over the bound alone
}

static void testPoolExhaustionAndReturn() {
  auto pool = std::make_shared<BlockPool>(4, 8);
  BlockQueue a(pool, 100 * kBlockBytes), b(pool, 100 * kBlockBytes);
  CHECK(pool->inUse() == 2);
  // a needs 3 more blocks for this write (16 KiB room in its first, then 3 × 16 KiB): only 2 left.
  auto big = pattern(4 * kBlockBytes, 1);
  CHECK(a.write(big.data(), big.size()) == BlockQueue::WriteResult::kOverPoolBound);
  CHECK(pool->inUse() == 2);  // the 2 blocks taken for it were handed back
  CHECK(a.queuedBytes() == 0);
  // Two more blocks fit exactly.
  auto fits = pattern(3 * kBlockBytes, 2);
  CHECK(a.write(fits.data(), fits.size()) == BlockQueue::WriteResult::kOk);
  CHECK(pool->inUse() == 4);
  auto one = pattern(1, 3);
  CHECK(b.write(one.data(), 1) == BlockQueue::WriteResult::kOk);  // b's first block has room: no block needed
  auto more = pattern(kBlockBytes, 4);
  CHECK(b.write(more.data(), more.size()) == BlockQueue::WriteResult::kOverPoolBound);
  // a drains: its blocks go back and b can grow.
  std::vector<uint8_t> out;
  drainAll(a, out);
  CHECK(out == fits);
  CHECK(pool->inUse() == 2);
  CHECK(b.write(more.data(), more.size()) == BlockQueue::WriteResult::kOk);
  CHECK(pool->inUse() == 3);
}

static void testKeepFreeAndClear() {
  auto pool = std::make_shared<BlockPool>(100, 2);
  {
    BlockQueue q(pool, 50 * kBlockBytes);
    auto big = pattern(10 * kBlockBytes, 5);
    CHECK(q.write(big.data(), big.size()) == BlockQueue::WriteResult::kOk);
    CHECK(pool->inUse() == 10);
    std::vector<uint8_t> out;
    drainAll(q, out);
    CHECK(pool->inUse() == 1);
    CHECK(pool->freeBlocks() == 2);  // the other 7 went back to the allocator
    CHECK(q.write(big.data(), 5) == BlockQueue::WriteResult::kOk);
    q.clear();
    CHECK(pool->inUse() == 0);
    CHECK(q.write(big.data(), 5) == BlockQueue::WriteResult::kCleared);
    CHECK(q.peek().size == 0);
  }
  CHECK(pool->inUse() == 0);
  BlockQueue q2(pool, kBlockBytes);  // destroyed with blocks queued: all handed back
  auto x = pattern(100, 6);
  CHECK(q2.write(x.data(), x.size()) == BlockQueue::WriteResult::kOk);
  CHECK(pool->inUse() == 1);
}

int main() {
  testRoundTripAcrossBlocks();
  testSpansStayInOneBlock();
  testStreamBound();
  testPoolExhaustionAndReturn();
  testKeepFreeAndClear();
  TEST_MAIN_END();
}
