// libFuzzer target: MeetingTimeline (native/dsp/overlap.cc) with 2..8 streams fed unevenly (runs of speech
// and silence per stream in any interleaving), mutes, exclusions, removals, backwards slots and gaps of up to
// 40,000 slots (400 s: longer than the 16,384-slot history), against a per-slot model that keeps every
// decision in a std::map (no ring: nothing is forgotten or reused) and applies the documented rules: a pair
// is compared at slot s by whichever stream reaches s second, if the other knows s (reached it, within the
// last kHistorySlots); a slot without a frame is silence; runs, turns and reports as documented in overlap.h.
// Reports (phase, names, times, overlap) must be identical, in the same order.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../dsp/overlap.h"
#include "fuzz_input.h"

namespace {

using meetcore::MeetingTimeline;
using meetcore::OverlapReport;

class Model {
 public:
  explicit Model(int minOverlapMs) : minSlots_((minOverlapMs + 9) / 10) {}

  void add(uint32_t id, const std::string& name) { tracks_[id].name = name; }
  void setMuted(uint32_t id, bool v) { if (tracks_.count(id)) tracks_[id].muted = v; }
  void setExcluded(uint32_t id, bool v) { if (tracks_.count(id)) tracks_[id].excluded = v; }
  void remove(uint32_t id, std::vector<OverlapReport>& out) {
    for (auto it = runs_.begin(); it != runs_.end();) {
      if (it->first.first == id || it->first.second == id) {
        finish(it->second, out);
        it = runs_.erase(it);
      } else {
        ++it;
      }
    }
    tracks_.erase(id);
  }
  void frame(uint32_t id, int64_t slot, bool speaking, std::vector<OverlapReport>& out) {
    auto self = tracks_.find(id);
    if (self == tracks_.end()) return;
    Track& a = self->second;
    if (a.started && slot <= a.last) slot = a.last + 1;
    if (!a.started) {
      a.started = true;
      a.first = slot;
    }
    const bool voice = speaking && !a.muted && !a.excluded;
    if (voice) a.speech[slot] = true;
    a.last = slot;
    for (auto& [otherId, b] : tracks_) {
      if (otherId == id || !b.knows(slot)) continue;
      update(id, otherId, slot, voice && b.speechAt(slot), out);
    }
  }

 private:
  struct Track {
    std::string name;
    std::map<int64_t, bool> speech;  // slots with voice (all others: silence)
    bool started = false, muted = false, excluded = false;
    int64_t first = 0, last = 0;
    bool knows(int64_t s) const { return started && s >= first && s <= last && last - s < MeetingTimeline::kHistorySlots; }
    bool speechAt(int64_t s) const { return knows(s) && speech.count(s) > 0; }
    int64_t turnStart(int64_t s) const {
      int64_t start = s, silent = 0;
      for (int64_t t = s; knows(t); t--) {
        if (speechAt(t)) {
          start = t;
          silent = 0;
        } else if (++silent >= MeetingTimeline::kTurnGapSlots) {
          break;
        }
      }
      return start;
    }
  };
  struct Run {
    bool active = false, reported = false;
    int64_t start = 0, last = 0, lastReport = 0;
    int count = 0;
    uint32_t firstId = 0, secondId = 0;
  };
  void update(uint32_t a, uint32_t b, int64_t s, bool both, std::vector<OverlapReport>& out) {
    const auto key = a < b ? std::make_pair(a, b) : std::make_pair(b, a);
    if (!both) {
      auto it = runs_.find(key);
      if (it != runs_.end() && s - it->second.last > MeetingTimeline::kGapSlots) {
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
      const int64_t ta = tracks_.at(a).turnStart(run.start), tb = tracks_.at(b).turnStart(run.start);
      const bool aLater = ta > tb || (ta == tb && a == key.second);
      run.firstId = aLater ? b : a;
      run.secondId = aLater ? a : b;
      run.reported = true;
      run.lastReport = s;
      out.push_back(report(run, OverlapReport::kStart, (s + 1) * 10.0));
    } else if (run.reported && s - run.lastReport >= MeetingTimeline::kOngoingSlots) {
      run.lastReport = s;
      out.push_back(report(run, OverlapReport::kOngoing, (s + 1) * 10.0));
    }
  }
  void finish(Run& run, std::vector<OverlapReport>& out) {
    if (run.active && run.reported) out.push_back(report(run, OverlapReport::kEnd, (run.last + 1) * 10.0));
    run.active = false;
  }
  OverlapReport report(const Run& run, OverlapReport::Phase phase, double tMs) const {
    OverlapReport r;
    r.phase = phase;
    r.first = tracks_.at(run.firstId).name;
    r.second = tracks_.at(run.secondId).name;
    r.startMs = run.start * 10.0;
    r.tMs = tMs;
    r.overlapMs = run.count * 10.0;
    return r;
  }

  const int minSlots_;
  std::map<uint32_t, Track> tracks_;
  std::map<std::pair<uint32_t, uint32_t>, Run> runs_;
};

bool sameReports(const std::vector<OverlapReport>& x, const std::vector<OverlapReport>& y) {
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); i++) {
    if (x[i].phase != y[i].phase || x[i].first != y[i].first || x[i].second != y[i].second ||
        x[i].startMs != y[i].startMs || x[i].tMs != y[i].tMs || x[i].overlapMs != y[i].overlapMs) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  meetcore_fuzz::Input in(data, size);
  const uint32_t n = 2 + in.u8() % 7;
  const int minOverlapMs = static_cast<int>(in.range(50, 2000));
  // A common origin (negative too: slots before the epoch), each stream a little apart.
  const int64_t origin = static_cast<int64_t>(static_cast<int32_t>(in.u32())) * 16;
  MeetingTimeline timeline(minOverlapMs);
  Model model(minOverlapMs);
  std::vector<int64_t> next(n);
  std::vector<bool> alive(n, true), muted(n, false), excluded(n, false);
  for (uint32_t i = 0; i < n; i++) {
    const std::string name = "p" + std::to_string(i);
    timeline.addStream(i + 1, name);
    model.add(i + 1, name);
    next[i] = origin + in.u8();
  }
  std::vector<OverlapReport> out, expected;
  size_t frames = 0;
  while (!in.empty() && frames < 60000) {
    const uint8_t op = in.u8();
    const uint32_t i = (op >> 3) % n;
    const uint32_t id = i + 1;
    switch (op & 7) {
      case 0: case 1: case 2: {  // a run of frames: speaking or not, 1..128 slots
        const uint8_t r = in.u8();
        const bool speaking = r & 1;
        const int len = 1 + (r >> 1);
        for (int k = 0; k < len; k++, frames++) {
          timeline.onFrame(id, next[i], speaking, out);
          model.frame(id, next[i], speaking, expected);
          next[i]++;
        }
        break;
      }
      case 3:  // a gap: up to 40,000 slots (400 s) without frames
        next[i] += (op & 0x80) ? in.range(16000, 40000) : in.range(1, 300);
        break;
      case 4:
        muted[i] = !muted[i];
        timeline.setMuted(id, muted[i]);
        model.setMuted(id, muted[i]);
        break;
      case 5:
        excluded[i] = !excluded[i];
        timeline.setExcluded(id, excluded[i]);
        model.setExcluded(id, excluded[i]);
        break;
      case 6:  // a frame rounding into an earlier slot (after a mute gap): moved to the next slot
        next[i] -= in.u8() % 4;
        break;
      case 7:
        if ((op & 0x80) && alive[i]) {
          alive[i] = false;
          timeline.removeStream(id, out);
          model.remove(id, expected);
        }
        break;
    }
    FUZZ_CHECK(sameReports(out, expected));
  }
  for (uint32_t i = 0; i < n; i++) {
    if (!alive[i]) continue;
    timeline.removeStream(i + 1, out);
    model.remove(i + 1, expected);
  }
  FUZZ_CHECK(sameReports(out, expected));
  FUZZ_CHECK(timeline.empty());
  return 0;
}
