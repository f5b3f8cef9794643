// libFuzzer target: BlockQueue and BlockPool (native/core/block_queue.h) against a model: 1..3 queues sharing
// one pool of 2..12 blocks, each with a bound of 1..6 blocks' worth of bytes; writes of any size (0 to past
// the bounds) and reads of spans (partly or wholly consumed) interleaved at random, sometimes a clear(). Checks:
// a write succeeds exactly when the model says both bounds allow it (the stream bound first, then the blocks it
// needs against the pool's free count), a refused write changes nothing (the blocks taken for it are handed
// back), spans never cross a block and hold the model's next bytes, the pool's count of blocks in use equals
// the sum of what each model queue must hold (its blocks from the read block to the write block).
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "../core/block_queue.h"
#include "fuzz_input.h"

namespace {

using meetcore::BlockPool;
using meetcore::BlockQueue;
using meetcore::kBlockBytes;

struct Model {
  std::unique_ptr<BlockQueue> q;
  std::deque<uint8_t> bytes;
  uint64_t written = 0, read = 0;
  uint64_t headBase = 0;  // start of the block the reader is in (kept until a later block exists)
  size_t bound = 0;
  bool cleared = false;
  /** Start of the block the writer is in: the one holding the last byte written. */
  uint64_t tailBase() const { return written == 0 ? 0 : (written - 1) / kBlockBytes * kBlockBytes; }
  /** Blocks the queue holds: from the reader's block to the writer's. */
  size_t blocks() const { return cleared ? 0 : static_cast<size_t>((tailBase() - headBase) / kBlockBytes + 1); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meetcore_fuzz::Input in(data, size);
  const size_t maxBlocks = in.range(2, 12);
  auto pool = std::make_shared<BlockPool>(maxBlocks, in.range(0, 4));
  const size_t nQueues = in.range(1, 3);
  std::vector<Model> models(nQueues);
  for (auto& m : models) {
    m.bound = in.range(1, 6 * kBlockBytes);
    m.q = std::make_unique<BlockQueue>(pool, m.bound);
  }
  std::vector<uint8_t> buf(7 * kBlockBytes);
  uint8_t next = 0;
  while (!in.empty()) {
    const uint8_t op = in.u8();
    Model& m = models[(op >> 6) % nQueues];
    switch (op & 7) {
      case 0: case 1: case 2: {  // write
        const size_t n = (op & 8) ? in.range(0, static_cast<uint32_t>(buf.size())) : in.range(0, 40);
        for (size_t i = 0; i < n; i++) buf[i] = static_cast<uint8_t>(next + i);
        size_t inUse = 0;
        for (auto& o : models) inUse += o.blocks();
        FUZZ_CHECK(pool->inUse() == inUse);
        const BlockQueue::WriteResult r = m.q->write(buf.data(), n);
        if (m.cleared) {
          FUZZ_CHECK(r == BlockQueue::WriteResult::kCleared);
          break;
        }
        const uint64_t room = m.tailBase() + kBlockBytes - m.written;  // free bytes in the writer's block
        const size_t need = n > room ? static_cast<size_t>((n - room + kBlockBytes - 1) / kBlockBytes) : 0;
        BlockQueue::WriteResult want = BlockQueue::WriteResult::kOk;
        if (m.bytes.size() + n > m.bound) want = BlockQueue::WriteResult::kOverStreamBound;
        else if (need > 0 && inUse + need > maxBlocks) want = BlockQueue::WriteResult::kOverPoolBound;  // (forced first blocks may pass the bound)
        FUZZ_CHECK(r == want);
        if (r == BlockQueue::WriteResult::kOk) {
          m.bytes.insert(m.bytes.end(), buf.begin(), buf.begin() + static_cast<long>(n));
          m.written += n;
          next = static_cast<uint8_t>(next + n);
        }
        break;
      }
      case 3: case 4: case 5: {  // read a span, consume part or all of it
        const BlockQueue::Span s = m.q->peek();
        if (m.cleared) {
          FUZZ_CHECK(s.size == 0);
          break;
        }
        if (!m.bytes.empty() && m.read - m.headBase == kBlockBytes) m.headBase += kBlockBytes;  // peek moved on
        const uint64_t toBlockEnd = kBlockBytes - m.read % kBlockBytes;
        const uint64_t want = m.bytes.size() < toBlockEnd ? m.bytes.size() : toBlockEnd;
        FUZZ_CHECK(s.size == want);
        const size_t k = (op & 8) ? s.size : in.range(0, static_cast<uint32_t>(s.size));
        for (size_t i = 0; i < k; i++) {
          FUZZ_CHECK(s.data[i] == m.bytes.front());
          m.bytes.pop_front();
        }
        if (k > 0) m.q->consume(k);
        m.read += k;
        // A block read to its end goes back at once when the writer is already past it.
        if (k > 0 && m.read - m.headBase == kBlockBytes && m.tailBase() > m.headBase) m.headBase += kBlockBytes;
        break;
      }
      case 6:
        if ((op & 0x38) == 0x38) {
          m.q->clear();
          m.cleared = true;
          m.bytes.clear();
        }
        break;
      default:
        break;
    }
    if (!m.cleared) FUZZ_CHECK(m.q->queuedBytes() == m.bytes.size());
    size_t inUse = 0;
    for (auto& o : models) inUse += o.blocks();
    FUZZ_CHECK(pool->inUse() == inUse);
  }
  return 0;
}
