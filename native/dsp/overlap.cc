#include "overlap.h"

#include <algorithm>

namespace meetcore {

int64_t MeetingTimeline::Track::turnStart(int64_t s) const {
  int64_t start = s, silent = 0;
  for (int64_t t = s; knows(t); t--) {
    if (speechAt(t)) {
      start = t;
      silent = 0;
    } else if (++silent >= kTurnGapSlots) {
      break;
    }
  }
  return start;
}

void MeetingTimeline::addStream(uint32_t id, const std::string& participant) {
  Track t;
  t.participant = participant;
  streams_.emplace(id, std::move(t));
}

void MeetingTimeline::removeStream(uint32_t id, std::vector<OverlapReport>& out) {
  for (auto it = runs_.begin(); it != runs_.end();) {
    if (it->first.first == id || it->first.second == id) {
      finish(it->second, out);
      it = runs_.erase(it);
    } else {
      ++it;
    }
  }
  streams_.erase(id);
}

void MeetingTimeline::setExcluded(uint32_t id, bool excluded) {
  auto it = streams_.find(id);
  if (it != streams_.end()) it->second.excluded = excluded;
}

void MeetingTimeline::setMuted(uint32_t id, bool muted) {
  auto it = streams_.find(id);
  if (it != streams_.end()) it->second.muted = muted;
}

void MeetingTimeline::onFrame(uint32_t id, int64_t slot, bool speaking, std::vector<OverlapReport>& out) {
  auto self = streams_.find(id);
  if (self == streams_.end()) return;
  Track& a = self->second;
  if (a.started && slot <= a.lastSlot) slot = a.lastSlot + 1;  // frames after a mute gap may round into a used slot
  const bool voice = speaking && !a.muted && !a.excluded;
  if (!a.started) {
    a.started = true;
    a.firstSlot = slot;
  } else if (slot - a.lastSlot > kHistorySlots) {
    // A gap longer than the whole history: every remembered slot is from an earlier pass of the ring.
    std::fill(a.bits.begin(), a.bits.end(), 0);
  } else {
    // Slots skipped by a gap are silence.
    for (int64_t s = a.lastSlot + 1; s < slot; s++) a.set(s, false);
  }
  a.set(slot, voice);
  a.lastSlot = slot;
  for (auto& [otherId, b] : streams_) {
    if (otherId == id || !b.knows(slot)) continue;  // b has not reached `slot` yet: it compares when it does
    const bool both = voice && b.speechAt(slot);
    update(id, otherId, slot, both, out);
  }
}

void MeetingTimeline::update(uint32_t a, uint32_t b, int64_t s, bool both, std::vector<OverlapReport>& out) {
  const auto key = a < b ? std::make_pair(a, b) : std::make_pair(b, a);
  if (!both) {
    auto it = runs_.find(key);
    if (it != runs_.end() && s - it->second.last > kGapSlots) {
      finish(it->second, out);
      runs_.erase(it);
    }
    return;
  }
  Run& run = runs_[key];
  if (!run.active) {
    run = Run{};
    run.active = true;
    run.start = s;
  }
  run.count++;
  run.last = s;
  if (!run.reported && run.count >= minSlots_) {
    const int64_t ta = streams_.at(a).turnStart(run.start), tb = streams_.at(b).turnStart(run.start);
    // The interrupter is the one whose turn began later (ties: the stream with the higher id, opened later).
    const bool aLater = ta > tb || (ta == tb && a == key.second);
    run.firstId = aLater ? b : a;
    run.secondId = aLater ? a : b;
    run.reported = true;
    run.lastReport = s;
    out.push_back(report(run, OverlapReport::kStart, (s + 1) * 10.0));
  } else if (run.reported && s - run.lastReport >= kOngoingSlots) {
    run.lastReport = s;
    out.push_back(report(run, OverlapReport::kOngoing, (s + 1) * 10.0));
  }
}

void MeetingTimeline::finish(Run& run, std::vector<OverlapReport>& out) {
  if (run.active && run.reported) out.push_back(report(run, OverlapReport::kEnd, (run.last + 1) * 10.0));
  run.active = false;
}

OverlapReport MeetingTimeline::report(const Run& run, OverlapReport::Phase phase, double tMs) const {
  OverlapReport r;
  r.phase = phase;
  r.first = streams_.at(run.firstId).participant;
  r.second = streams_.at(run.secondId).participant;
  r.startMs = run.start * 10.0;
  r.tMs = tMs;
  r.overlapMs = run.count * 10.0;
  return r;
}

}  // namespace meetcore
