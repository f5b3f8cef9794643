// Talk spurts and interruptions across the streams of one meeting, on the shared stream-clock timeline.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace meetcore {

/** An interruption report (src/pipeline/types.ts OverlapEvent). */
struct OverlapReport {
  enum Phase { kStart, kOngoing, kEnd } phase;
  std::string first, second;  // whose turn began first, then the other (the interrupter)
  double startMs;
  double tMs;
  double overlapMs;
  bool excluded;  // one of the two streams was excluded (a host) when the start was reported
};

/** A talk spurt of one stream (src/pipeline/types.ts SpeechEvent). */
struct SpeechReport {
  uint32_t streamId;
  double startMs, endMs;
};

/** What the timeline reports; the caller drains both vectors. */
struct TimelineReports {
  std::vector<OverlapReport> overlaps;
  std::vector<SpeechReport> speech;
  bool empty() const { return overlaps.empty() && speech.empty(); }
};

/**
 * The VAD decisions of a meeting's streams on one timeline of absolute 10 ms slots
 * (slot = floor(stream time in Unix ms / 10)).
 *
 * Per stream (each fed in order, but unevenly: faster than real time, in bursts), the last kHistorySlots
 * decisions are kept twice: as voice (speaking and not muted) and bridged: voice with every silence shorter
 * than kBridgeSlots between two voice slots filled, the speech an annotator marks (pauses under 300 ms
 * bridged). Finality is eager: a slot's bridged value is final, with every slot before it, once the stream
 * has voice at or after it (a gap is filled or not when its voice ends), or once the silence holding it has
 * reached kBridgeSlots slots (it can no longer be bridged); in steady speech that is at once, in a pause up
 * to kBridgeSlots - 1 slots later. A talk spurt (a maximal run of bridged slots) is reported as a
 * SpeechReport when its end is final, or when the stream is removed. Exclusion (hosts) does not change the
 * decisions.
 *
 * Each pair (A, B) walks the slots that are final on both, in order, each slot once: an overlap is a maximal
 * run of slots bridged on both. It is an interruption when it reaches minOverlapMs and the talk spurt of the
 * later speaker (the one whose turn, walking back over silences shorter than kTurnGapSlots, began later; ties:
 * the higher stream id) has lasted kTakeSlots (turn and spurt both seen as far as the history remembers when
 * the overlap reaches minOverlapMs): the 'start' is reported at the first slot where both hold (tMs: the end
 * of that slot), with `excluded` set when either stream is excluded at the moment it is emitted; 'ongoing'
 * about every second while it lasts; 'end' when it stops (or the pair is finished, see below). The start is
 * fired by the interrupter: once the walk has counted minOverlapMs, the slot where the later spurt reaches
 * kTakeSlots depends on the later stream alone, so the start is emitted as soon as that stream's bits are
 * final up to there, even if the other stream's are not yet (the walk then goes on over the slots in
 * between); its overlapMs is what the walk has counted so far (at least minOverlapMs), the 'end' carries the
 * exact length. An overlap that ends before its later speaker's spurt reaches kTakeSlots waits for that spurt:
 * reported if the spurt reaches kTakeSlots ('end' once the walk reaches that slot, or at once if it had),
 * dropped (a backchannel) when the spurt ends shorter; simultaneous speech resuming meanwhile joins it. An
 * overlap whose start fired gets its 'end' if the pair is finished (or its walk broken by a long gap) before
 * the walk reaches the start's slot.
 *
 * Removing a stream settles it (its open spurt is reported, its pairs walk what is final on both) and ends its
 * track: its decisions stay on the timeline for the streams that lag behind it. A pair of an ended track and
 * a stream live at its removal (fed already or not) goes on walking as that stream gets frames, up to the
 * ended track's last slot; once past it, the pair is finished (an overlap still open gets its 'end'; one
 * waiting for its later speaker's spurt is dropped). A pair whose streams have both ended is finished at the
 * second removal. An ended track is forgotten once none of its pairs remains; streams added after its removal
 * are not compared with it.
 * Not thread-safe: a meeting lives on one worker thread.
 */
class MeetingTimeline {
 public:
  static constexpr int kHistorySlots = 16384;  // 163.84 s: streams may be fed unevenly, faster than real time
  static constexpr int kBridgeSlots = 30;      // silences under 300 ms inside speech are bridged
  static constexpr int kTakeSlots = 100;       // a talk spurt under 1 s is a backchannel (FLOOR_TAKE_MS)
  static constexpr int kTurnGapSlots = 50;     // 500 ms of silence starts a new turn
  static constexpr int kOngoingSlots = 100;    // an 'ongoing' report about every second

  explicit MeetingTimeline(int minOverlapMs) : minSlots_((minOverlapMs + 9) / 10) {}

  void addStream(uint32_t id, const std::string& participant);
  /**
   * Reports the stream's last spurt and ends its track: no frame of it follows; the live streams lagging
   * behind it are still compared with it (see above). Unknown or already removed ids are ignored.
   */
  void removeStream(uint32_t id, TimelineReports& out);
  /** Live streams only: an ended track keeps what it had. */
  void setExcluded(uint32_t id, bool excluded);
  void setMuted(uint32_t id, bool muted);
  /**
   * Record the decision of `id` at `slot` (10 ms units; any value in ±2^62, negative too; slots of one stream
   * must not go backwards: a slot at or before the stream's last one is moved to the next slot). Slots
   * skipped since the stream's last frame are silence, however long the gap; a silence of kBridgeSlots or more
   * first settles the slots before it, as removeStream does (the open spurt ends, the pairs compare what is
   * final on both), before the silence overwrites the history.
   */
  void onFrame(uint32_t id, int64_t slot, bool speaking, TimelineReports& out);
  /** No live stream (ended tracks may remain: they have no stream left to be compared with). */
  bool empty() const { return streams_.size() == ended_; }
  /** Tracks kept: the live streams and the ended tracks still compared with a live stream. */
  size_t trackCount() const { return streams_.size(); }

 private:
  struct Bits {
    std::vector<uint64_t> words = std::vector<uint64_t>(kHistorySlots / 64, 0);
    bool get(int64_t s) const {
      const uint64_t i = static_cast<uint64_t>(s) % kHistorySlots;
      return (words[i / 64] >> (i % 64)) & 1u;
    }
    void set(int64_t s, bool v) {
      const uint64_t i = static_cast<uint64_t>(s) % kHistorySlots;
      if (v) words[i / 64] |= (uint64_t{1} << (i % 64));
      else words[i / 64] &= ~(uint64_t{1} << (i % 64));
    }
    void clear() { std::fill(words.begin(), words.end(), 0); }
  };
  struct Track {
    std::string participant;
    Bits voice, bridged;
    int64_t firstSlot = 0, lastSlot = 0;  // valid once `started` (any int64 slot, negative ones too)
    int64_t lastVoice = 0;                // valid once `hasVoice`
    int64_t finalTo = 0;                  // last slot whose bridged value is final (see finalSlot)
    int64_t spurtCursor = 0, spurtStart = 0;
    bool started = false, hasVoice = false, inSpurt = false;
    bool excluded = false, muted = false;
    bool ended = false;  // removed: no frame follows; kept while pairsLeft > 0
    int pairsLeft = 0;   // once ended: its pairs with live streams that have not passed its last slot
    /** Oldest slot still remembered. */
    int64_t lo() const { return lastSlot - firstSlot >= kHistorySlots ? lastSlot - kHistorySlots + 1 : firstSlot; }
    bool knows(int64_t s) const { return started && s >= lo() && s <= lastSlot; }
    /**
     * Last slot whose bridged value is final, eagerly: the last slot when it has voice, or when the silence
     * since the last voice has reached kBridgeSlots (or no voice came yet); else the last voice slot (the
     * silence after it may still be bridged). Settled (removeStream, long gap): its last real slot.
     */
    int64_t finalSlot() const { return finalTo; }
    bool voiceAt(int64_t s) const { return knows(s) && voice.get(s); }
    bool bridgedAt(int64_t s) const { return knows(s) && bridged.get(s); }
    int64_t turnStart(int64_t s) const;
    int64_t spurtStartAt(int64_t s) const;
  };
  using PairKey = std::pair<uint32_t, uint32_t>;  // (lower id, higher id)
  struct Pair {
    bool started = false;
    int64_t cursor = 0;  // next slot to compare
    // The current overlap: active while both are bridged; pending when it ended long enough but unreported.
    // reported: the walk has reached the start's slot; fired: the start was emitted (by startEarly, ahead of
    // the walk, or by the walk).
    bool active = false, pending = false, reported = false, fired = false, excluded = false;
    int64_t start = 0, last = 0, lastReport = 0, laterSpurtStart = 0;
    int count = 0;
    uint32_t lowId = 0, highId = 0, firstId = 0, secondId = 0;  // firstId/secondId: once sidesKnown
    bool sidesKnown = false;
  };

  /** The stream's slots up to its last one made final (its open spurt ends, its pairs compare them). */
  void settle(uint32_t id, Track& t, TimelineReports& out);
  void advanceSpurts(uint32_t id, Track& t, int64_t upTo, TimelineReports& out);
  void advancePair(uint32_t a, uint32_t b, TimelineReports& out);
  void step(Pair& p, Track& low, Track& high, int64_t s, bool both, TimelineReports& out);
  /**
   * Emits the start of the pair's overlap ahead of the walk once it has counted minSlots and the later
   * stream's own final bridged bits show its spurt reaching kTakeSlots (see the class comment).
   */
  void startEarly(Pair& p, const Track& low, const Track& high, TimelineReports& out);
  void finish(Pair& p, TimelineReports& out);
  /** Finishes and erases a pair; an ended track of it has one pair less. */
  void dropPair(std::map<PairKey, Pair>::iterator it, TimelineReports& out);
  /** Erases the ended tracks without pairs (not while iterating streams_). */
  void dropEndedTracks();
  OverlapReport report(const Pair& p, OverlapReport::Phase phase, double tMs) const;

  const int minSlots_;
  std::map<uint32_t, Track> streams_;  // live streams and ended tracks
  size_t ended_ = 0;                    // ended tracks in streams_
  std::map<PairKey, Pair> pairs_;
};

}  // namespace meetcore
