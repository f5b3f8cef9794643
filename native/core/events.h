// Events produced by worker threads and delivered to JS in batches (shapes: src/pipeline/types.ts).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../dsp/analysis.h"
#include "../dsp/overlap.h"

namespace meetcore {

/** Identity of a stream, shared by its events. */
struct StreamIdentity {
  uint32_t id;
  std::string meetingId;
  std::string participantId;
};

struct Event {
  enum Type { kStats, kSegment, kOverlap, kClosed, kError };
  Event(Type t, std::shared_ptr<const StreamIdentity> s) : type(t), stream(std::move(s)) {}
  Type type;
  std::shared_ptr<const StreamIdentity> stream;  // null for overlap events
  std::string meetingId;                         // overlap events
  StatsSnapshot stats;
  uint64_t overflowBytes = 0;
  uint64_t recordedBytes = 0;
  // segment
  uint32_t segmentIndex = 0;
  double startMs = 0, endMs = 0;
  std::vector<uint8_t> wav;
  // overlap
  OverlapReport overlap{};
  // error
  std::string code, message;
};

using EventBatch = std::vector<Event>;

}  // namespace meetcore
