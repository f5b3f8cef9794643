// Overlapping speech across the streams of one meeting, on the shared stream-clock timeline.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace meetcore {

/** An overlap report (src/pipeline/types.ts OverlapEvent). */
struct OverlapReport {
  enum Phase { kStart, kOngoing, kEnd } phase;
  std::string first, second;  // who started speaking first, then the other (the interrupter)
  double startMs;
  double tMs;
  double overlapMs;
};

/**
 * The VAD decisions of a meeting's streams on one timeline of absolute 10 ms slots
 * (slot = floor(stream time in Unix ms / 10)).
 *
 * Streams are fed in order each, but unevenly (faster than real time, in bursts): each stream keeps the
 * last kHistorySlots decisions, and a pair (A, B) is compared at slot s by whichever of the two reaches s
 * second, so every pair and slot is compared exactly once and in slot order. Muted or excluded (host) streams
 * record silence. A run of simultaneous speech becomes an overlap when it reaches `minOverlapMs`; gaps up to
 * kGapSlots do not break a run. Not thread-safe: a meeting lives on one worker thread.
 */
class MeetingTimeline {
 public:
  static constexpr int kHistorySlots = 16384;  // 163.84 s: streams may be fed unevenly, faster than real time
  static constexpr int kGapSlots = 20;         // 200 ms
  static constexpr int kTurnGapSlots = 50;     // 500 ms of silence starts a new turn
  static constexpr int kOngoingSlots = 100;    // an 'ongoing' report about every second

  explicit MeetingTimeline(int minOverlapMs) : minSlots_((minOverlapMs + 9) / 10) {}

  void addStream(uint32_t id, const std::string& participant);
  /** Ends the runs the stream takes part in (reported ones get an 'end'). */
  void removeStream(uint32_t id, std::vector<OverlapReport>& out);
  void setExcluded(uint32_t id, bool excluded);
  void setMuted(uint32_t id, bool muted);
  /**
   * Record the decision of `id` at `slot` (10 ms units; any value in ±2^62, negative too; slots of one stream
   * must not go backwards: a slot at or before the stream's last one is moved to the next slot). Slots
   * skipped since the stream's last frame are silence, however long the gap.
   */
  void onFrame(uint32_t id, int64_t slot, bool speaking, std::vector<OverlapReport>& out);
  bool empty() const { return streams_.empty(); }

 private:
  struct Track {
    std::string participant;
    std::vector<uint64_t> bits = std::vector<uint64_t>(kHistorySlots / 64, 0);
    int64_t firstSlot = 0, lastSlot = 0;  // valid once `started` (any int64 slot, negative ones too)
    bool started = false;
    bool excluded = false, muted = false;
    bool speechAt(int64_t s) const {
      if (!knows(s)) return false;
      const uint64_t i = static_cast<uint64_t>(s) % kHistorySlots;
      return (bits[i / 64] >> (i % 64)) & 1u;
    }
    void set(int64_t s, bool v) {
      const uint64_t i = static_cast<uint64_t>(s) % kHistorySlots;
      if (v) bits[i / 64] |= (uint64_t{1} << (i % 64));
      else bits[i / 64] &= ~(uint64_t{1} << (i % 64));
    }
    bool knows(int64_t s) const { return started && s >= firstSlot && s <= lastSlot && lastSlot - s < kHistorySlots; }
    int64_t turnStart(int64_t s) const;
  };
  struct Run {
    bool active = false, reported = false;
    int64_t start = 0, last = 0, lastReport = 0;
    int count = 0;
    uint32_t firstId = 0, secondId = 0;
  };

  void update(uint32_t a, uint32_t b, int64_t s, bool both, std::vector<OverlapReport>& out);
  void finish(Run& run, std::vector<OverlapReport>& out);
  OverlapReport report(const Run& run, OverlapReport::Phase phase, double tMs) const;

  const int minSlots_;
  std::map<uint32_t, Track> streams_;
  std::map<std::pair<uint32_t, uint32_t>, Run> runs_;
};

}  // namespace meetcore
