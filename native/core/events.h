// Events produced by worker threads and delivered to JS in batches (shapes: src/pipeline/types.ts).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../dsp/analysis.h"
#include "../dsp/overlap.h"
#include "stats_fields.h"

namespace meetcore {

/** Identity of a stream, shared by its events. */
struct StreamIdentity {
  uint32_t id;
  std::string meetingId;
  std::string participantId;
};

/** A span of the recording's data that is missing: `bytes` that belong at data offset `offset` (both in
 *  bytes of the WAV data, header excluded) were lost (a bound closed the stream, or the writer failed). */
struct RecordingGap {
  uint64_t offset;
  uint64_t bytes;
};

/** A segment, speech (talk spurt), overlap, closed or error event (stats travel as packed rows, see EventBatch::stats). */
struct Event {
  enum Type { kSegment, kSpeech, kOverlap, kClosed, kError };
  Event(Type t, std::shared_ptr<const StreamIdentity> s) : type(t), stream(std::move(s)) {}
  Type type;
  std::shared_ptr<const StreamIdentity> stream;  // null for overlap events
  std::string meetingId;                         // overlap events
  uint64_t overflowBytes = 0;
  uint64_t recordedBytes = 0;
  std::vector<RecordingGap> gaps;  // closed: what the recording lacks, in data order
  // segment, speech (startMs, endMs)
  uint32_t segmentIndex = 0;
  double startMs = 0, endMs = 0;
  std::vector<uint8_t> wav;
  // overlap
  OverlapReport overlap{};
  // error
  std::string code, message;
};

/**
 * What a worker hands over in one delivery: the stats reports as packed rows (`statsRows()` rows of
 * kStatsFieldCount doubles, stats_fields.h) and the other events as objects. Iterating a batch iterates its
 * events.
 */
struct EventBatch {
  std::vector<Event> events;
  std::vector<double> stats;

  size_t statsRows() const { return stats.size() / kStatsFieldCount; }
  bool empty() const { return events.empty() && stats.empty(); }
  void push_back(Event&& e) { events.push_back(std::move(e)); }
  void push_back(const Event& e) { events.push_back(e); }
  /** Append one stats row. */
  void addStats(uint32_t id, const StatsSnapshot& s, uint64_t overflow, uint64_t recorded) {
    const size_t at = stats.size();
    stats.resize(at + kStatsFieldCount);
    writeStatsRow(stats.data() + at, id, s, overflow, recorded);
  }
  std::vector<Event>::iterator begin() { return events.begin(); }
  std::vector<Event>::iterator end() { return events.end(); }
  std::vector<Event>::const_iterator begin() const { return events.begin(); }
  std::vector<Event>::const_iterator end() const { return events.end(); }
};

}  // namespace meetcore
