// libFuzzer target: RingBuffer (native/dsp/ring_buffer.h) against a std::deque<uint8_t> model. Capacities
// 1..4096 (exactly as asked, at least 64), writes and reads of any size (0 to past the capacity)
// interleaved at random, so the copies wrap around the end of the storage in every way. Checks: write is all
// or nothing exactly when the model says it fits, read returns min(n, readable) bytes equal to the model's
// front, readable/headPosition/tailPosition match the model's counters.
#include <cstdint>
#include <deque>
#include <vector>

#include "../dsp/ring_buffer.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meetcore_fuzz::Input in(data, size);
  const size_t minCapacity = in.range(1, 4096);
  meetcore::RingBuffer ring(minCapacity);
  const size_t cap = ring.capacity();
  FUZZ_CHECK(cap == (minCapacity < 64 ? 64 : minCapacity));
  std::deque<uint8_t> model;
  uint64_t written = 0, read = 0;
  std::vector<uint8_t> buf(2 * cap + 8), out(2 * cap + 8);
  uint8_t next = 0;
  while (!in.empty()) {
    const uint8_t op = in.u8();
    // Sizes: small odd ones most of the time, sometimes around the capacity.
    size_t n = (op & 0x40) ? in.range(0, static_cast<uint32_t>(cap + 3)) : in.range(0, 17);
    if (op & 1) {
      for (size_t i = 0; i < n; i++) buf[i] = next++;
      const bool fits = n <= cap - model.size();
      const bool ok = ring.write(buf.data(), n);
      FUZZ_CHECK(ok == fits);
      if (ok) {
        model.insert(model.end(), buf.begin(), buf.begin() + static_cast<long>(n));
        written += n;
      } else {
        next = static_cast<uint8_t>(next - n);  // the same bytes are offered again next time
      }
    } else {
      const size_t got = ring.read(out.data(), n);
      FUZZ_CHECK(got == (n < model.size() ? n : model.size()));
      for (size_t i = 0; i < got; i++) {
        FUZZ_CHECK(out[i] == model.front());
        model.pop_front();
      }
      read += got;
    }
    FUZZ_CHECK(ring.readable() == model.size());
    FUZZ_CHECK(ring.headPosition() == written && ring.tailPosition() == read);
  }
  return 0;
}
