// The columns of a packed stats row: ONE list, read by the C++ side (the row layout, the writer below and
// the addon's `statsFields()` export) and checked by the TypeScript side at load (src/pipeline/stats.ts
// compares `statsFields()` with its own STATS_FIELDS and refuses the addon on any difference).
//
// A stats batch is a Float64Array of `rows × kStatsFieldCount` doubles, one row per stats report, columns in
// this order. Booleans are 0/1; a measurement that does not exist (no samples, no speech, never spoke) is NaN
// (null in TypeScript). Units are those of src/pipeline/types.ts StatsEvent.
//
// X(name, value): `value` is an expression over `id` (uint32_t stream id), `s` (const StatsSnapshot&),
// `overflow` and `recorded` (uint64_t bytes).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "../dsp/analysis.h"

#define MEETCORE_STATS_FIELDS(X)                                                                         \
  X(streamId, static_cast<double>(id))                                                                  \
  X(tMs, s.tMs)                                                                                          \
  X(speaking, s.speaking ? 1.0 : 0.0)                                                                    \
  X(muted, s.muted ? 1.0 : 0.0)                                                                          \
  X(rmsDbfs, s.samples > 0 ? s.rmsDbfs : kNaN)                                                           \
  X(peakDbfs, s.samples > 0 ? s.peakDbfs : kNaN)                                                         \
  X(clippedSamples, static_cast<double>(s.clippedSamples))                                               \
  X(samples, static_cast<double>(s.samples))                                                             \
  X(speechCoverage10s, s.speechCoverage10s)                                                              \
  X(speechMs3s, static_cast<double>(s.speechMs3s))                                                       \
  X(rmsDbfs3s, s.speechMs3s > 0 ? s.rmsDbfs3s : kNaN)                                                    \
  X(clippedRatio3s, s.clippedRatio3s)                                                                    \
  X(rmsEmaDbfs, s.hasEma ? s.rmsEmaDbfs : kNaN)                                                          \
  X(noiseFloorDbfs, s.noiseFloorDbfs)                                                                    \
  X(lastSpokeAtMs, s.lastSpokeAtMs >= 0 ? s.lastSpokeAtMs : kNaN)                                        \
  X(speechStartedAtMs, s.speechStartedAtMs >= 0 ? s.speechStartedAtMs : kNaN)                            \
  X(overflowBytes, static_cast<double>(overflow))                                                        \
  X(recordedBytes, static_cast<double>(recorded))

namespace meetcore {

enum StatsField : size_t {
#define MEETCORE_STATS_ENUM(name, value) kStats_##name,
  MEETCORE_STATS_FIELDS(MEETCORE_STATS_ENUM)
#undef MEETCORE_STATS_ENUM
  kStatsFieldCount
};

/** Column names in row order (for `statsFields()`). */
inline const char* const* statsFieldNames() {
  static const char* const names[] = {
#define MEETCORE_STATS_NAME(name, value) #name,
      MEETCORE_STATS_FIELDS(MEETCORE_STATS_NAME)
#undef MEETCORE_STATS_NAME
  };
  static_assert(sizeof(names) / sizeof(names[0]) == kStatsFieldCount, "one name per column");
  return names;
}

/** Write one row (kStatsFieldCount doubles) at `row`. */
inline void writeStatsRow(double* row, uint32_t id, const StatsSnapshot& s, uint64_t overflow, uint64_t recorded) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
#define MEETCORE_STATS_WRITE(name, value) row[kStats_##name] = (value);
  MEETCORE_STATS_FIELDS(MEETCORE_STATS_WRITE)
#undef MEETCORE_STATS_WRITE
}

}  // namespace meetcore
