// Single-producer/single-consumer byte ring (the JS thread produces, one worker thread consumes).
// Lock-free: the producer only writes `head_`, the consumer only writes `tail_`; both are monotonic byte
// counters (never wrap in practice: 2^64 bytes). The capacity is exactly what was asked for (not rounded up
// to a power of two: a 1 s ring of 48 kHz stereo stays 187.5 KiB instead of 256 KiB); the position in the
// storage is `counter % capacity`, one division per push/read.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

namespace meetcore {

class RingBuffer {
 public:
  /** @param capacity bytes (at least 64). The storage is allocated but not touched: pages become resident
   *  as the producer first writes them. */
  explicit RingBuffer(size_t capacity) {
    capacity_ = capacity < 64 ? 64 : capacity;
    data_.reset(new uint8_t[capacity_]);
  }

  size_t capacity() const { return capacity_; }

  /** Producer: copies all of `src` or nothing. Returns false (and copies nothing) when it does not fit. */
  bool write(const uint8_t* src, size_t n) {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    const uint64_t tail = tail_.load(std::memory_order_acquire);
    if (n > capacity_ - static_cast<size_t>(head - tail)) return false;
    const size_t at = static_cast<size_t>(head % capacity_);
    const size_t first = n < capacity_ - at ? n : capacity_ - at;
    std::memcpy(data_.get() + at, src, first);
    std::memcpy(data_.get(), src + first, n - first);
    head_.store(head + n, std::memory_order_release);
    return true;
  }

  /** Consumer: bytes readable now. */
  size_t readable() const {
    return static_cast<size_t>(head_.load(std::memory_order_acquire) - tail_.load(std::memory_order_relaxed));
  }

  /** Consumer: total bytes ever written, as seen now (a position marker for ordering). */
  uint64_t headPosition() const { return head_.load(std::memory_order_acquire); }
  uint64_t tailPosition() const { return tail_.load(std::memory_order_relaxed); }

  /** Consumer: copy up to `n` bytes out; returns bytes copied. */
  size_t read(uint8_t* dst, size_t n) {
    const uint64_t tail = tail_.load(std::memory_order_relaxed);
    const size_t avail = static_cast<size_t>(head_.load(std::memory_order_acquire) - tail);
    if (n > avail) n = avail;
    const size_t at = static_cast<size_t>(tail % capacity_);
    const size_t first = n < capacity_ - at ? n : capacity_ - at;
    std::memcpy(dst, data_.get() + at, first);
    std::memcpy(dst + first, data_.get(), n - first);
    tail_.store(tail + n, std::memory_order_release);
    return n;
  }

 private:
  size_t capacity_;
  std::unique_ptr<uint8_t[]> data_;
  alignas(64) std::atomic<uint64_t> head_{0};
  alignas(64) std::atomic<uint64_t> tail_{0};
};

}  // namespace meetcore
