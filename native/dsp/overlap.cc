#include "overlap.h"

#include <algorithm>

namespace meetcore {

int64_t MeetingTimeline::Track::turnStart(int64_t s) const {
  int64_t start = s, silent = 0;
  for (int64_t t = s; knows(t); t--) {
    if (voice.get(t)) {
      start = t;
      silent = 0;
    } else if (++silent >= kTurnGapSlots) {
      break;
    }
  }
  return start;
}

int64_t MeetingTimeline::Track::spurtStartAt(int64_t s) const {
  // The spurt still open contains s: as far as remembered, like the walk below (not further back than lo()).
  if (inSpurt && spurtStart <= s) return std::max(spurtStart, lo());
  int64_t start = s;
  for (int64_t t = s; bridgedAt(t); t--) start = t;
  return start;
}

void MeetingTimeline::addStream(uint32_t id, const std::string& participant) {
  Track t;
  t.participant = participant;
  streams_.emplace(id, std::move(t));
}

void MeetingTimeline::removeStream(uint32_t id, TimelineReports& out) {
  auto self = streams_.find(id);
  if (self == streams_.end() || self->second.ended) return;
  Track& t = self->second;
  if (t.started) settle(id, t, out);  // no frame will follow: final up to its last slot
  // Its pairs go on with the live streams that have not passed its last slot (those without frames yet too);
  // the others are finished.
  for (auto& [otherId, other] : streams_) {
    if (otherId == id) continue;
    const PairKey key{std::min(id, otherId), std::max(id, otherId)};
    auto it = pairs_.find(key);
    const bool lags = t.started && !other.ended &&
                      (!other.started || (it != pairs_.end() && it->second.cursor <= t.finalSlot()));
    if (lags) {
      if (it == pairs_.end()) pairs_.emplace(key, Pair{});  // walked from its first frame on
      t.pairsLeft++;
    } else if (it != pairs_.end()) {
      dropPair(it, out);
    }
  }
  t.ended = true;
  ended_++;
  dropEndedTracks();
}

void MeetingTimeline::setExcluded(uint32_t id, bool excluded) {
  auto it = streams_.find(id);
  if (it != streams_.end() && !it->second.ended) it->second.excluded = excluded;
}

void MeetingTimeline::setMuted(uint32_t id, bool muted) {
  auto it = streams_.find(id);
  if (it != streams_.end() && !it->second.ended) it->second.muted = muted;
}

void MeetingTimeline::onFrame(uint32_t id, int64_t slot, bool speaking, TimelineReports& out) {
  auto self = streams_.find(id);
  if (self == streams_.end() || self->second.ended) return;
  Track& a = self->second;
  if (a.started && slot <= a.lastSlot) slot = a.lastSlot + 1;  // frames after a mute gap may round into a used slot
  const bool v = speaking && !a.muted;
  if (!a.started) {
    a.started = true;
    a.firstSlot = slot;
    a.spurtCursor = slot;
  } else {
    if (slot - a.lastSlot > kBridgeSlots) {
      // A silence of kBridgeSlots or more bridges nothing: everything before it is final. Settle it (the open
      // spurt ends, the pairs compare it) before the silence overwrites the history.
      settle(id, a, out);
      a.spurtCursor = slot;  // the rest of the gap is silence: no spurt in it
    }
    if (slot - a.lastSlot > kHistorySlots) {
      // A gap longer than the whole history: everything before it is forgotten.
      a.voice.clear();
      a.bridged.clear();
    } else {
      // Slots skipped by a gap are silence.
      for (int64_t s = a.lastSlot + 1; s < slot; s++) {
        a.voice.set(s, false);
        a.bridged.set(s, false);
      }
    }
  }
  a.voice.set(slot, v);
  a.bridged.set(slot, v);
  if (v) {
    const int64_t gap = a.hasVoice ? slot - a.lastVoice - 1 : 0;
    if (gap > 0 && gap < kBridgeSlots) {
      for (int64_t s = a.lastVoice + 1; s < slot; s++) a.bridged.set(s, true);
    }
    a.lastVoice = slot;
    a.hasVoice = true;
  }
  a.lastSlot = slot;
  // Eager finality: a voice slot is bridged whatever follows, and so is every slot before it (a gap before it
  // is now filled or not); a silence that has reached kBridgeSlots slots can no longer be bridged.
  if (v || !a.hasVoice || slot - a.lastVoice >= kBridgeSlots) a.finalTo = slot;
  advanceSpurts(id, a, a.finalSlot(), out);
  for (auto& [otherId, b] : streams_) {
    if (otherId != id && b.started) advancePair(id, otherId, out);
  }
  if (ended_ > 0) dropEndedTracks();
}

void MeetingTimeline::settle(uint32_t id, Track& t, TimelineReports& out) {
  // A silence after the last slot is never bridged: pretend kBridgeSlots - 1 silent slots arrived, so that
  // finalSlot() == last.
  const int64_t last = t.lastSlot;
  t.lastSlot = last + kBridgeSlots - 1;
  for (int64_t s = last + 1; s <= t.lastSlot; s++) {
    t.voice.set(s, false);
    t.bridged.set(s, false);
  }
  t.finalTo = last;  // the padding is not the stream's: its pairs walk up to its last slot
  advanceSpurts(id, t, last, out);
  if (t.inSpurt) out.speech.push_back({id, t.spurtStart * 10.0, (last + 1) * 10.0});
  t.inSpurt = false;
  for (auto& [otherId, other] : streams_) {
    if (otherId != id && other.started) advancePair(id, otherId, out);
  }
}

void MeetingTimeline::advanceSpurts(uint32_t id, Track& t, int64_t upTo, TimelineReports& out) {
  for (int64_t x = t.spurtCursor; x <= upTo; x++) {
    const bool b = t.bridged.get(x);
    if (b && !t.inSpurt) {
      t.inSpurt = true;
      t.spurtStart = x;
    } else if (!b && t.inSpurt) {
      t.inSpurt = false;
      out.speech.push_back({id, t.spurtStart * 10.0, x * 10.0});
    }
  }
  if (upTo >= t.spurtCursor) t.spurtCursor = upTo + 1;
}

void MeetingTimeline::advancePair(uint32_t a, uint32_t b, TimelineReports& out) {
  const uint32_t lowId = std::min(a, b), highId = std::max(a, b);
  Track& low = streams_.at(lowId);
  Track& high = streams_.at(highId);
  if (!low.started || !high.started) return;
  auto it = pairs_.find({lowId, highId});
  if (it == pairs_.end()) {
    if (low.ended || high.ended) return;  // passed by the live one, or it was added after the removal
    it = pairs_.emplace(PairKey{lowId, highId}, Pair{}).first;
  }
  Pair& p = it->second;
  p.lowId = lowId;
  p.highId = highId;
  int64_t from = p.started ? p.cursor : std::max(low.firstSlot, high.firstSlot);
  const int64_t known = std::max(low.lo(), high.lo());
  if (from < known) {
    // Slots forgotten by a long gap: whatever ran before them is over.
    finish(p, out);
    from = known;
  }
  p.started = true;
  const int64_t upTo = std::min(low.finalSlot(), high.finalSlot());
  for (int64_t s = from; s <= upTo; s++) step(p, low, high, s, low.bridged.get(s) && high.bridged.get(s), out);
  p.cursor = std::max(from, upTo + 1);
  startEarly(p, low, high, out);
  const Track* ended = low.ended ? &low : high.ended ? &high : nullptr;
  if (ended && p.cursor > ended->finalSlot()) dropPair(it, out);  // the live stream has passed its last slot
}

void MeetingTimeline::step(Pair& p, Track& low, Track& high, int64_t s, bool both, TimelineReports& out) {
  if (both) {
    if (!p.active && !p.pending) {
      p.start = s;
      p.count = 0;
      p.reported = p.fired = p.sidesKnown = false;
    }
    p.active = true;
    p.pending = false;  // simultaneous speech resumed while the later spurt went on: the same overlap
    p.count++;
    p.last = s;
  } else if (p.active) {
    p.active = false;
    if (p.reported) {
      out.overlaps.push_back(report(p, OverlapReport::kEnd, (p.last + 1) * 10.0));
      p.reported = p.fired = false;
    } else if (p.count >= minSlots_) {
      p.pending = true;  // long enough; an interruption if the later speaker's spurt reaches kTakeSlots
    }
  }
  if ((p.active || p.pending) && !p.reported && p.count >= minSlots_) {
    if (!p.sidesKnown) {
      // The interrupter is the one whose turn began later (ties: the stream with the higher id, opened later).
      const int64_t tl = low.turnStart(p.start), th = high.turnStart(p.start);
      const bool lowLater = tl > th;
      p.firstId = lowLater ? p.highId : p.lowId;
      p.secondId = lowLater ? p.lowId : p.highId;
      p.laterSpurtStart = (lowLater ? low : high).spurtStartAt(p.start);
      p.sidesKnown = true;
    }
    const Track& later = p.secondId == p.lowId ? low : high;
    if (later.bridged.get(s)) {
      if (s - p.laterSpurtStart + 1 >= kTakeSlots) {
        p.lastReport = s;
        p.reported = true;
        if (!p.fired) {  // not fired ahead of the walk by startEarly
          p.excluded = low.excluded || high.excluded;
          out.overlaps.push_back(report(p, OverlapReport::kStart, (s + 1) * 10.0));
        }
        if (p.pending) {
          out.overlaps.push_back(report(p, OverlapReport::kEnd, (p.last + 1) * 10.0));
          p.pending = p.reported = p.fired = false;
        }
      }
    } else if (p.pending) {
      p.pending = false;  // the later spurt ended under kTakeSlots: a backchannel
    }
  } else if (p.active && p.reported && s - p.lastReport >= kOngoingSlots) {
    p.lastReport = s;
    out.overlaps.push_back(report(p, OverlapReport::kOngoing, (s + 1) * 10.0));
  }
}

void MeetingTimeline::startEarly(Pair& p, const Track& low, const Track& high, TimelineReports& out) {
  if (!(p.active || p.pending) || p.reported || p.fired || !p.sidesKnown) return;
  // The walk has counted minSlots (the sides are known) but not reached the slot where the later speaker's
  // spurt reaches kTakeSlots: that slot depends on the later stream alone. Fire once its bridged bits are
  // final up to there and all set from the walk's cursor on (before it, the walk saw the spurt go on).
  const Track& later = p.secondId == p.lowId ? low : high;
  const int64_t at = p.laterSpurtStart + kTakeSlots - 1;
  if (at < p.cursor || later.finalSlot() < at) return;
  for (int64_t s = p.cursor; s <= at; s++) {
    if (!later.bridged.get(s)) return;  // the spurt ends before kTakeSlots: the walk drops the overlap there
  }
  p.excluded = low.excluded || high.excluded;
  p.fired = true;
  out.overlaps.push_back(report(p, OverlapReport::kStart, (at + 1) * 10.0));
}

void MeetingTimeline::finish(Pair& p, TimelineReports& out) {
  // An open overlap already reported ends; so does one whose start fired ahead of the walk.
  if ((p.active && p.reported) || (p.fired && !p.reported)) {
    out.overlaps.push_back(report(p, OverlapReport::kEnd, (p.last + 1) * 10.0));
  }
  p.active = p.pending = p.reported = p.fired = false;
}

void MeetingTimeline::dropPair(std::map<PairKey, Pair>::iterator it, TimelineReports& out) {
  finish(it->second, out);
  for (const uint32_t id : {it->first.first, it->first.second}) {
    Track& t = streams_.at(id);
    if (t.ended) t.pairsLeft--;
  }
  pairs_.erase(it);
}

void MeetingTimeline::dropEndedTracks() {
  for (auto it = streams_.begin(); it != streams_.end();) {
    if (it->second.ended && it->second.pairsLeft == 0) {
      it = streams_.erase(it);
      ended_--;
    } else {
      ++it;
    }
  }
}

OverlapReport MeetingTimeline::report(const Pair& p, OverlapReport::Phase phase, double tMs) const {
  OverlapReport r;
  r.phase = phase;
  r.first = streams_.at(p.firstId).participant;
  r.second = streams_.at(p.secondId).participant;
  r.startMs = p.start * 10.0;
  r.tMs = tMs;
  r.overlapMs = p.count * 10.0;
  r.excluded = p.excluded;
  return r;
}

}  // namespace meetcore
