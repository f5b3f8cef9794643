// libFuzzer target: MeetingTimeline (native/dsp/overlap.cc) with 2..8 streams fed unevenly (runs of speech
// and silence per stream in any interleaving), mutes, exclusions, removals, backwards slots and gaps of up to
// 40,000 slots (400 s: longer than the 16,384-slot history), against an independent two-part model of the
// rules documented in overlap.h:
//  - online, bookkeeping only: per stream the std::set of slots that had voice (never forgotten: no ring, no
//    clearing), its first/last slot and mute/exclusion. At each frame of stream a at slot s, every other stream
//    b that knows s (started, first <= s <= last, last - s < kHistorySlots) gets an entry in the pair's log:
//    {s, both = voice of a and b at s, the arriving stream, both streams' (first, last) at that moment}.
//    Removing a stream appends a "removed" marker to the logs of its pairs. No runs are tracked here.
//  - batch: reportsOf() derives one pair's reports from its log alone (plus the append-only voice sets, read
//    only inside the logged knowledge windows): a run starts at a `both` entry and ends at the first non-both
//    entry more than kGapSlots after its last `both` slot (or at removal); 'start' at its minSlots-th `both`
//    entry, 'ongoing' at the first `both` entry kOngoingSlots or more after the previous report, 'end' if it
//    was reported. Turn starts walk the voice set backwards with iterators (not slot by slot), stopping at a
//    silence of kTurnGapSlots or at the edge of the logged window.
// The implementation's reports, grouped by unordered pair of participant names, must equal the model's
// sequence for that pair exactly (phase, names, times, overlap), and the totals must match.
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../dsp/overlap.h"
#include "fuzz_input.h"

namespace {

using meetcore::MeetingTimeline;
using meetcore::OverlapReport;
constexpr int64_t kHistory = MeetingTimeline::kHistorySlots;

struct Window {
  int64_t first, last;  // the slots a stream had reached; it knows max(first, last - kHistory + 1)..last
  int64_t lo() const { return last - first >= kHistory ? last - kHistory + 1 : first; }
};

struct Entry {
  bool removed;  // the pair ended: one of its streams was removed (nothing else below is meaningful)
  bool both;
  uint32_t arriving;
  int64_t slot;
  Window win[2];  // of the pair's lower id, then the higher one, after the arriving frame
};

struct Stream {
  std::string name;
  std::set<int64_t> voice;  // every slot with voice, ever
  Window win{0, 0};
  bool started = false, muted = false, excluded = false, alive = true;
  bool knows(int64_t s) const { return alive && started && s >= win.lo() && s <= win.last; }
};

/**
 * Where the turn of a speaker containing (or just before) slot s began, seen through window w: the earliest
 * voice slot reachable from s going backwards over silences shorter than kTurnGapSlots; s itself if there is
 * none. (The implementation counts silent slots one by one from s down; a silence of `gap` slots between two
 * voice slots p > v (or between s + 1 and v) breaks the walk when gap >= kTurnGapSlots, before reaching v.)
 */
int64_t turnStart(const std::set<int64_t>& voice, const Window& w, int64_t s) {
  const int64_t lo = w.lo();
  if (s < lo || s > w.last) return s;
  int64_t start = s, above = s + 1;  // `above`: the voice slot (or s + 1) the silence below is measured from
  for (auto it = voice.upper_bound(s); it != voice.begin();) {
    const int64_t v = *--it;
    if (v < lo || above - v - 1 >= MeetingTimeline::kTurnGapSlots) break;
    start = v;
    above = v;
  }
  return start;
}

class Model {
 public:
  explicit Model(int minOverlapMs) : minSlots_((minOverlapMs + 9) / 10) {}

  void add(uint32_t id, const std::string& name) { streams_[id].name = name; }
  void setMuted(uint32_t id, bool v) { streams_[id].muted = v; }
  void setExcluded(uint32_t id, bool v) { streams_[id].excluded = v; }
  void remove(uint32_t id) {
    if (!streams_[id].alive) return;
    streams_[id].alive = false;
    for (auto& [key, log] : logs_) {
      if (key.first == id || key.second == id) log.push_back(Entry{true, false, 0, 0, {}});
    }
  }
  void frame(uint32_t id, int64_t slot, bool speaking) {
    Stream& a = streams_[id];
    if (!a.alive) return;
    if (!a.started) {
      a.started = true;
      a.win.first = slot;
    } else if (slot <= a.win.last) {
      slot = a.win.last + 1;
    }
    a.win.last = slot;
    const bool voiceA = speaking && !a.muted && !a.excluded;
    if (voiceA) a.voice.insert(slot);
    for (auto& [bid, b] : streams_) {
      if (bid == id || !b.knows(slot)) continue;
      const uint32_t lo = id < bid ? id : bid, hi = id < bid ? bid : id;
      Entry e{false, voiceA && b.voice.count(slot) > 0, id, slot, {streams_[lo].win, streams_[hi].win}};
      logs_[{lo, hi}].push_back(e);
    }
  }

  /** Every pair's reports, derived from its log; keyed by the sorted pair of names. */
  std::map<std::pair<std::string, std::string>, std::vector<OverlapReport>> reports() const {
    std::map<std::pair<std::string, std::string>, std::vector<OverlapReport>> all;
    for (const auto& [key, log] : logs_) {
      auto names = std::make_pair(streams_.at(key.first).name, streams_.at(key.second).name);
      if (names.second < names.first) std::swap(names.first, names.second);
      all[names] = reportsOf(key.first, key.second, log);
    }
    return all;
  }

 private:
  /** The pure batch part: one pair's reports from its log. */
  std::vector<OverlapReport> reportsOf(uint32_t lo, uint32_t hi, const std::vector<Entry>& log) const {
    std::vector<OverlapReport> out;
    const Stream& x = streams_.at(lo);
    const Stream& y = streams_.at(hi);
    size_t i = 0;
    while (i < log.size()) {
      // Skip to the entry that opens a run.
      if (log[i].removed) break;  // nothing follows a removal
      if (!log[i].both) { i++; continue; }
      const int64_t runStart = log[i].slot;
      std::vector<size_t> hits;  // the run's `both` entries
      bool closed = false;       // ended by a long silence or a removal (else still open at the log's end)
      for (; i < log.size(); i++) {
        const Entry& e = log[i];
        if (e.removed) { closed = true; break; }
        if (e.both) { hits.push_back(i); continue; }
        if (e.slot - log[hits.back()].slot > MeetingTimeline::kGapSlots) { closed = true; break; }
      }
      if (static_cast<int64_t>(hits.size()) >= minSlots_) {
        const Entry& at = log[hits[minSlots_ - 1]];
        const int64_t tx = turnStart(x.voice, at.win[0], runStart);
        const int64_t ty = turnStart(y.voice, at.win[1], runStart);
        // The interrupter: the later turn; on a tie the higher stream id (overlap.cc's rule).
        const bool loInterrupts = tx > ty;
        const std::string& first = loInterrupts ? y.name : x.name;
        const std::string& second = loInterrupts ? x.name : y.name;
        auto emit = [&](OverlapReport::Phase phase, size_t nHits) {
          const int64_t t = log[hits[nHits - 1]].slot;
          out.push_back(OverlapReport{phase, first, second, runStart * 10.0, (t + 1) * 10.0, nHits * 10.0});
        };
        emit(OverlapReport::kStart, minSlots_);
        int64_t reportedAt = at.slot;
        for (size_t k = minSlots_; k < hits.size(); k++) {
          if (log[hits[k]].slot - reportedAt < MeetingTimeline::kOngoingSlots) continue;
          reportedAt = log[hits[k]].slot;
          emit(OverlapReport::kOngoing, k + 1);
        }
        if (closed) emit(OverlapReport::kEnd, hits.size());
      }
      if (i < log.size() && log[i].removed) break;
    }
    return out;
  }

  const int64_t minSlots_;
  std::map<uint32_t, Stream> streams_;
  std::map<std::pair<uint32_t, uint32_t>, std::vector<Entry>> logs_;
};

/** The implementation's reports, grouped by sorted pair of names (order kept within a pair). */
std::map<std::pair<std::string, std::string>, std::vector<OverlapReport>> byPair(const std::vector<OverlapReport>& v) {
  std::map<std::pair<std::string, std::string>, std::vector<OverlapReport>> all;
  for (const OverlapReport& r : v) {
    auto names = r.first < r.second ? std::make_pair(r.first, r.second) : std::make_pair(r.second, r.first);
    all[names].push_back(r);
  }
  return all;
}

bool same(const OverlapReport& x, const OverlapReport& y) {
  return x.phase == y.phase && x.first == y.first && x.second == y.second && x.startMs == y.startMs &&
         x.tMs == y.tMs && x.overlapMs == y.overlapMs;
}

/** Every pair with reports on either side has the same sequence on both; totals match. */
bool agrees(const std::vector<OverlapReport>& out, const Model& model) {
  const auto got = byPair(out);
  const auto want = model.reports();
  size_t total = 0;
  for (const auto& [names, seq] : want) {
    total += seq.size();
    auto it = got.find(names);
    const size_t n = it == got.end() ? 0 : it->second.size();
    if (n != seq.size()) {
      std::fprintf(stderr, "pair %s/%s: %zu reports, model %zu\n", names.first.c_str(), names.second.c_str(), n,
                   seq.size());
      return false;
    }
    for (size_t k = 0; k < n; k++) {
      if (!same(it->second[k], seq[k])) {
        std::fprintf(stderr, "pair %s/%s: report %zu differs\n", names.first.c_str(), names.second.c_str(), k);
        return false;
      }
    }
  }
  return total == out.size();
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
  std::vector<OverlapReport> out;
  size_t frames = 0, checkedAt = 0;
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
          model.frame(id, next[i], speaking);
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
          model.remove(id);
        }
        break;
    }
    if (frames - checkedAt >= 8192) {  // now and then mid-input too (open runs: no 'end' on either side yet)
      checkedAt = frames;
      FUZZ_CHECK(agrees(out, model));
    }
  }
  for (uint32_t i = 0; i < n; i++) {
    if (!alive[i]) continue;
    timeline.removeStream(i + 1, out);
    model.remove(i + 1);
  }
  FUZZ_CHECK(agrees(out, model));
  FUZZ_CHECK(timeline.empty());
  return 0;
}
