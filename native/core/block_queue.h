// Per-stream queues of fixed-size blocks taken from one pool shared by every stream of an engine.
//
// A stream's input waits in a chain of 16 KiB blocks: a stream that is drained as fast as it arrives holds one
// or two blocks (16–32 KiB); a burst (a network stall releasing 30 s of audio at once) grows the chain up to
// the stream's bound, and the blocks go back to the pool as the worker drains them. Two bounds, both checked
// before anything is copied (a push is taken whole or not at all): the stream's own (`maxBytes`, queued
// bytes), and the pool's (`maxBlocks`, blocks in use by all streams together).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

namespace meetcore {

/** Bytes of one block (16 KiB: about 85 ms of 48 kHz stereo PCM s16le). */
constexpr size_t kBlockBytes = 16 * 1024;

/** One block of queued input; `next` is set by the producer before the bytes in it are published. */
struct Block {
  std::atomic<Block*> next{nullptr};
  alignas(16) uint8_t data[kBlockBytes];
};

/**
 * The blocks of an engine: at most `maxBlocks` handed out at once (the global bound), freed blocks kept for
 * reuse up to `keepFree` (beyond that they go back to the allocator, so a burst's memory is returned).
 * Thread-safe (a mutex around the free list; acquire/release happen once per 16 KiB).
 */
class BlockPool {
 public:
  /** @param maxBlocks the global bound (at least 1); @param keepFree free blocks kept for reuse. */
  BlockPool(size_t maxBlocks, size_t keepFree) : maxBlocks_(maxBlocks < 1 ? 1 : maxBlocks), keepFree_(keepFree) {}
  ~BlockPool() {
    for (Block* b : free_) delete b;
  }
  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  /** A block (its `next` cleared), or nullptr when `maxBlocks` are in use. With `force` the bound is not
   *  checked (each stream's first block, so opening a stream never fails on the bound). */
  Block* acquire(bool force = false) {
    Block* b = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!force && inUse_.load(std::memory_order_relaxed) >= maxBlocks_) return nullptr;
      inUse_.fetch_add(1, std::memory_order_relaxed);
      if (!free_.empty()) {
        b = free_.back();
        free_.pop_back();
      }
    }
    if (!b) b = new Block();
    b->next.store(nullptr, std::memory_order_relaxed);
    return b;
  }

  /** Hand a block back (kept for reuse, or freed when `keepFree` are kept already). */
  void release(Block* b) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      inUse_.fetch_sub(1, std::memory_order_relaxed);
      if (free_.size() < keepFree_) {
        free_.push_back(b);
        return;
      }
    }
    delete b;
  }

  /** Blocks handed out now (queued input of all streams, in blocks). */
  size_t inUse() const { return inUse_.load(std::memory_order_relaxed); }
  /** Blocks kept for reuse now. */
  size_t freeBlocks() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return free_.size();
  }
  size_t maxBlocks() const { return maxBlocks_; }

 private:
  const size_t maxBlocks_;
  const size_t keepFree_;
  mutable std::mutex mutex_;
  std::vector<Block*> free_;
  std::atomic<size_t> inUse_{0};
};

/**
 * The input of one stream: single producer (the JS thread: `write`), single consumer (the stream's worker:
 * `peek`/`consume`). Byte positions are monotonic counters (`written`, `read`); the block holding position p
 * is the one starting at p - p % kBlockBytes. A fully read block is handed back to the pool as soon as the
 * next one exists; the last one stays (the producer writes on into it), so an idle stream holds one block.
 */
class BlockQueue {
 public:
  /** Takes its first block from `pool` even when the pool's bound is reached (counted in inUse(), never
   *  refused: opening a stream does not fail on the bound). @param maxBytes this stream's bound on queued bytes. */
  BlockQueue(std::shared_ptr<BlockPool> pool, size_t maxBytes) : pool_(std::move(pool)), maxBytes_(maxBytes) {
    head_ = tail_ = pool_->acquire(true);
  }
  ~BlockQueue() { clear(); }
  BlockQueue(const BlockQueue&) = delete;
  BlockQueue& operator=(const BlockQueue&) = delete;

  enum class WriteResult { kOk, kOverStreamBound, kOverPoolBound, kCleared };

  /**
   * Producer: copy all of `src` (one memcpy per block touched) or nothing. Refused when the queued bytes
   * would pass `maxBytes` (kOverStreamBound) or the blocks it needs are not available (kOverPoolBound, the
   * blocks taken for it are handed back), or after clear() (kCleared).
   */
  WriteResult write(const uint8_t* src, size_t n) {
    if (!tail_) return WriteResult::kCleared;
    const uint64_t w = written_.load(std::memory_order_relaxed);
    const uint64_t queued = w - read_.load(std::memory_order_acquire);
    if (n > maxBytes_ || queued + n > maxBytes_) return WriteResult::kOverStreamBound;
    size_t fill = static_cast<size_t>(w - tailBase_);  // bytes in the tail block (kBlockBytes when full)
    const size_t room = kBlockBytes - fill;
    // Take every block this write needs first: all or nothing.
    Block* first = nullptr;
    Block* last = nullptr;
    if (n > room) {
      const size_t need = (n - room + kBlockBytes - 1) / kBlockBytes;
      for (size_t i = 0; i < need; i++) {
        Block* b = pool_->acquire();
        if (!b) {
          while (first) {
            Block* nx = first->next.load(std::memory_order_relaxed);
            pool_->release(first);
            first = nx;
          }
          return WriteResult::kOverPoolBound;
        }
        if (last) last->next.store(b, std::memory_order_relaxed);
        else first = b;
        last = b;
      }
    }
    size_t done = 0;
    while (done < n) {
      if (fill == kBlockBytes) {
        Block* b = first;
        first = b->next.load(std::memory_order_relaxed);
        b->next.store(nullptr, std::memory_order_relaxed);
        tail_->next.store(b, std::memory_order_release);
        tail_ = b;
        tailBase_ += kBlockBytes;
        fill = 0;
      }
      const size_t k = n - done < kBlockBytes - fill ? n - done : kBlockBytes - fill;
      std::memcpy(tail_->data + fill, src + done, k);
      fill += k;
      done += k;
    }
    written_.store(w + n, std::memory_order_release);
    return WriteResult::kOk;
  }

  /** A contiguous run of queued bytes (inside one block). */
  struct Span {
    const uint8_t* data;
    size_t size;
  };

  /** Consumer: the queued bytes from the read position to the end of their block (size 0: none). */
  Span peek() {
    const uint64_t r = read_.load(std::memory_order_relaxed);
    const uint64_t avail = written_.load(std::memory_order_acquire) - r;
    if (avail == 0 || !head_) return {nullptr, 0};
    size_t off = static_cast<size_t>(r - headBase_);
    if (off == kBlockBytes) advanceHead();  // bytes exist past this block, so its next is set
    off = static_cast<size_t>(r - headBase_);
    const size_t inBlock = kBlockBytes - off;
    return {head_->data + off, avail < inBlock ? static_cast<size_t>(avail) : inBlock};
  }

  /** Consumer: `n` bytes of the last peek() were used; a block read to its end goes back to the pool when
   *  the next one exists. */
  void consume(size_t n) {
    const uint64_t r = read_.load(std::memory_order_relaxed) + n;
    read_.store(r, std::memory_order_release);
    if (r - headBase_ == kBlockBytes && head_->next.load(std::memory_order_acquire) != nullptr) advanceHead();
  }

  /** Bytes written and not yet consumed (either thread; a snapshot). */
  uint64_t queuedBytes() const { return written_.load(std::memory_order_acquire) - read_.load(std::memory_order_acquire); }
  /** Producer-side position: every byte ever written. */
  uint64_t writePosition() const { return written_.load(std::memory_order_acquire); }
  /** Consumer-side position: every byte ever consumed. */
  uint64_t readPosition() const { return read_.load(std::memory_order_acquire); }
  size_t maxBytes() const { return maxBytes_; }

  /** Hand every block back (what is still queued is discarded); later writes return kCleared. Called when
   *  neither thread uses the queue any more (the stream is finished). */
  void clear() {
    Block* b = head_;
    while (b) {
      Block* nx = b->next.load(std::memory_order_acquire);
      pool_->release(b);
      b = nx;
    }
    head_ = tail_ = nullptr;
  }

 private:
  void advanceHead() {
    Block* nx = head_->next.load(std::memory_order_acquire);
    pool_->release(head_);
    head_ = nx;
    headBase_ += kBlockBytes;
  }

  std::shared_ptr<BlockPool> pool_;
  const size_t maxBytes_;
  // Producer side.
  Block* tail_ = nullptr;
  uint64_t tailBase_ = 0;
  alignas(64) std::atomic<uint64_t> written_{0};
  // Consumer side.
  alignas(64) std::atomic<uint64_t> read_{0};
  Block* head_ = nullptr;
  uint64_t headBase_ = 0;
};

}  // namespace meetcore
