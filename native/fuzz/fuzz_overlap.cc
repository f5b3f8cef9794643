// libFuzzer target: MeetingTimeline (native/dsp/overlap.cc) with 2..8 streams fed unevenly (runs of speech
// and silence per stream in any interleaving), mutes, exclusions, removals, backwards slots and gaps of up to
// 40,000 slots (400 s: longer than the 16,384-slot history), against an independent two-part model of the
// rules documented in overlap.h:
//  - online, bookkeeping only: per stream the std::set of slots that had voice (speaking and not muted; never
//    forgotten: no ring, no clearing, no bridging) and its last slot; and one log of what happened, in order:
//    "stream X has reached slot R" (each frame; before a frame that follows a silence of kBridgeSlots or more,
//    and at a removal, X first reaches its last slot + kBridgeSlots - 1: the silence that settles it, marked
//    as such), exclusion changes, removals. No spurts, runs or cursors are tracked here.
//  - finality, eager: what a stream had reached at one moment is final up to that slot when it has voice or
//    follows kBridgeSlots of silence (or no voice yet), else up to its last voice slot; after the settling
//    silence, up to its last real slot (Window::final, from the voice set and the log).
//  - batch, from the sets and the log alone: the bridged slots of a stream are intervals (voice slots with
//    fewer than kBridgeSlots silent slots between them merged), its talk spurts are those intervals, reported
//    once the stream's last slot is kBridgeSlots past the spurt's last slot (or the stream was removed). A
//    pair's walk replays the log (each step a moment: where the walk and each stream's finality stood): whenever
//    either stream reaches a slot, the pair walks the slots final on both not walked yet; when an unwalked
//    slot has been forgotten by either (outside its last kHistorySlots), the walk breaks and resumes at the
//    oldest slot both know. A removed stream's log stays: the walk goes on while the other one (live, fed
//    already or not) reaches its slots later, and is over (closed) once it has walked past the removed one's
//    last slot, when both are removed, or at once when the removed one never had a frame. Within each unbroken stretch of walked slots, the runs bridged on both are interval
//    intersections; an overlap begins at a run of minSlots or more, its sides are decided from the turn starts
//    (iterators walking the voice set back, stopping at a silence of kTurnGapSlots or at the window the log
//    gave at the minSlots-th slot), the later speaker's spurt is the bridged interval containing the overlap's
//    start (seen through that window); the 'start' is due at max(minSlots-th slot, spurt start + kTakeSlots
//    - 1) if the later spurt and the stretch last that long (else the runs inside the spurt are dropped), and
//    the runs up to there are one overlap: 'start' there, then 'end' once walked there when it falls between
//    runs, or 'ongoing' every kOngoingSlots and 'end' after the run holding it (or where the stretch breaks).
//    The 'start' is fired early, by the later speaker, at the first moment the walk has counted minSlots and
//    the later stream is final up to the due slot (its spurt reaching it) while the walk is still before it:
//    then it carries the count walked so far and the exclusion of that moment, and if the stretch breaks
//    before the walk reaches the due slot, its runs so far are the overlap ('end' after the last of them).
// The implementation's reports must equal the model's exactly, now and then mid-input and after removing every
// stream: overlaps grouped by unordered pair of names (phase, names, startMs, tMs, overlapMs, excluded) and
// speech grouped by stream, each in order, nothing more on either side.
#include <algorithm>
#include <cstdint>
#include <cstdio>
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
using meetcore::SpeechReport;
using meetcore::TimelineReports;
constexpr int64_t kHistory = MeetingTimeline::kHistorySlots;
constexpr int64_t kBridge = MeetingTimeline::kBridgeSlots;
constexpr int64_t kTake = MeetingTimeline::kTakeSlots;
constexpr int64_t kTurnGap = MeetingTimeline::kTurnGapSlots;
constexpr int64_t kOngoing = MeetingTimeline::kOngoingSlots;

/**
 * What a stream had reached at one moment: it knows lo()..reach, and its slots up to final(voice) are final:
 * eagerly, up to reach when reach has voice or kBridgeSlots of silence (or no voice yet) lead to it, else up
 * to its last voice slot; when settled (the silence that settles it), up to its last real slot.
 */
struct Window {
  int64_t first = 0, reach = 0;
  bool settled = false;
  int64_t lo() const { return reach - first >= kHistory ? reach - kHistory + 1 : first; }
  int64_t final(const std::set<int64_t>& voice) const {
    if (settled) return reach - (kBridge - 1);
    auto it = voice.upper_bound(reach);
    if (it == voice.begin()) return reach;
    const int64_t v = *--it;
    return reach - v >= kBridge ? reach : v;
  }
};

struct Interval {
  int64_t a, b;  // slots a..b, both included
};

struct Event {
  enum Kind { kReach, kExcluded, kRemoved } kind;
  uint32_t id;
  int64_t value;         // kReach: the slot reached; kExcluded: 1 or 0
  bool settled = false;  // kReach: the silence that settles the stream (final up to its last real slot)
};

struct Stream {
  std::string name;
  std::set<int64_t> voice;  // every slot with voice, ever
  int64_t last = 0;         // the last frame's slot, once started
  bool started = false, muted = false, alive = true;
};

/** The bridged slots of a voice set: maximal intervals, voice slots less than kBridgeSlots apart merged. */
std::vector<Interval> bridgedOf(const std::set<int64_t>& voice) {
  std::vector<Interval> out;
  for (const int64_t v : voice) {
    if (!out.empty() && v - out.back().b - 1 < kBridge) out.back().b = v;
    else out.push_back({v, v});
  }
  return out;
}

/** The interval of `iv` holding slot s (there is one). */
Interval holding(const std::vector<Interval>& iv, int64_t s) {
  auto it = std::upper_bound(iv.begin(), iv.end(), s, [](int64_t x, const Interval& i) { return x < i.a; });
  return *--it;
}

/** The parts of x ∩ y inside lo..hi (both sorted, disjoint). */
std::vector<Interval> intersect(const std::vector<Interval>& x, const std::vector<Interval>& y, int64_t lo,
                                int64_t hi) {
  std::vector<Interval> out;
  auto from = [lo](const std::vector<Interval>& v) {
    return std::lower_bound(v.begin(), v.end(), lo, [](const Interval& i, int64_t s) { return i.b < s; });
  };
  for (auto i = from(x), j = from(y); i != x.end() && j != y.end();) {
    const int64_t a = std::max({i->a, j->a, lo}), b = std::min({i->b, j->b, hi});
    if (std::max(i->a, j->a) > hi) break;
    if (a <= b) out.push_back({a, b});
    if (i->b < j->b) ++i;
    else ++j;
  }
  return out;
}

/**
 * Where the turn of a speaker containing (or just before) slot s began, seen through window w: the earliest
 * voice slot reachable from s going backwards over silences shorter than kTurnGapSlots; s itself if there is
 * none. (The silence below voice slot p, or below s + 1, down to voice slot v is p - v - 1 slots.)
 */
int64_t turnStart(const std::set<int64_t>& voice, const Window& w, int64_t s) {
  const int64_t lo = w.lo();
  int64_t start = s, above = s + 1;
  for (auto it = voice.upper_bound(s); it != voice.begin();) {
    const int64_t v = *--it;
    if (v < lo || above - v - 1 >= kTurnGap) break;
    start = v;
    above = v;
  }
  return start;
}

using PairKey = std::pair<std::string, std::string>;  // sorted names
PairKey keyOf(const std::string& x, const std::string& y) { return x < y ? PairKey(x, y) : PairKey(y, x); }

class Model {
 public:
  explicit Model(int minOverlapMs) : minSlots_((minOverlapMs + 9) / 10) {}

  // The online part: bookkeeping only.
  void add(uint32_t id, const std::string& name) { streams_[id].name = name; }
  void setMuted(uint32_t id, bool v) { streams_[id].muted = v; }
  void setExcluded(uint32_t id, bool v) {
    if (streams_[id].alive) log_.push_back({Event::kExcluded, id, v ? 1 : 0});
  }
  void remove(uint32_t id) {
    Stream& s = streams_[id];
    if (!s.alive) return;
    s.alive = false;
    if (s.started) log_.push_back({Event::kReach, id, s.last + kBridge - 1, true});
    log_.push_back({Event::kRemoved, id, 0});
  }
  void frame(uint32_t id, int64_t slot, bool speaking) {
    Stream& s = streams_[id];
    if (!s.alive) return;
    if (s.started && slot <= s.last) slot = s.last + 1;
    if (s.started && slot - s.last > kBridge) log_.push_back({Event::kReach, id, s.last + kBridge - 1, true});
    s.started = true;
    s.last = slot;
    if (speaking && !s.muted) s.voice.insert(slot);
    log_.push_back({Event::kReach, id, slot});
  }

  // The batch part.
  std::map<uint32_t, std::vector<SpeechReport>> speech() const {
    std::map<uint32_t, std::vector<SpeechReport>> all;
    for (const auto& [id, s] : streams_) {
      for (const Interval& i : bridgedOf(s.voice)) {
        if (s.alive && s.last < i.b + kBridge) break;  // its end is not final yet
        all[id].push_back({id, i.a * 10.0, (i.b + 1) * 10.0});
      }
    }
    return all;
  }

  std::map<PairKey, std::vector<OverlapReport>> overlaps() const {
    std::map<uint32_t, std::vector<Interval>> bridged;
    for (const auto& [id, s] : streams_) bridged[id] = bridgedOf(s.voice);
    std::map<PairKey, std::vector<OverlapReport>> all;
    for (auto x = streams_.begin(); x != streams_.end(); ++x) {
      for (auto y = std::next(x); y != streams_.end(); ++y) {
        auto reports = pairReports(x->first, y->first, bridged);
        if (!reports.empty()) all[keyOf(x->second.name, y->second.name)] = std::move(reports);
      }
    }
    return all;
  }

 private:
  struct Walk {
    int64_t from, upTo;  // the slots walked at one moment
    Window win[2];       // of the lower id, then the higher one, at that moment
    bool excluded;       // either stream excluded at that moment
  };
  /** The pair after one of its streams reached a slot (walked or not): where each stream was final. */
  struct Moment {
    int64_t next;      // the first slot not walked yet
    int64_t final[2];  // of the lower id, then the higher one
    bool excluded;     // either stream excluded at that moment
  };
  /** An unbroken stretch of a pair's walk: walks[begin..end) of its log, contiguous, and its moments. */
  struct Stretch {
    const Walk* begin;
    const Walk* end;
    const Moment* mBegin;
    const Moment* mEnd;
    bool closed;  // the walk broke after it, or a stream was removed
    int64_t first() const { return begin->from; }
    int64_t last() const { return (end - 1)->upTo; }
    const Walk& at(int64_t s) const {
      return std::upper_bound(begin, end, s, [](int64_t x, const Walk& w) { return x < w.from; })[-1];
    }
  };

  /** The walk of pair (lo, hi) replayed from the log (into `walks`, `moments`), as unbroken stretches. */
  std::vector<Stretch> stretches(uint32_t lo, uint32_t hi, std::vector<Walk>& walks,
                                 std::vector<Moment>& moments) const {
    std::vector<size_t> starts, mStarts;  // where each stretch begins in `walks`, `moments`
    std::vector<bool> closed;
    Window win[2];
    const std::set<int64_t>* voice[2] = {&streams_.at(lo).voice, &streams_.at(hi).voice};
    auto fin = [&](int j) { return win[j].final(*voice[j]); };
    bool started[2] = {false, false}, excluded[2] = {false, false}, removed[2] = {false, false}, walking = false;
    int64_t next = 0;  // the first slot not walked yet, once walking
    walks.clear();
    moments.clear();
    // The walk is over when both are removed, or one is removed (never started, or walked past its end).
    auto over = [&] {
      for (int j = 0; j < 2; j++) {
        if (removed[j] && (removed[1 - j] || !started[j] || (walking && next > fin(j)))) return true;
      }
      return false;
    };
    for (const Event& e : log_) {
      const int k = e.id == lo ? 0 : e.id == hi ? 1 : -1;
      if (k < 0) continue;
      if (e.kind == Event::kRemoved) {
        removed[k] = true;
        if (over()) {
          if (!closed.empty()) closed.back() = true;
          break;
        }
        continue;
      }
      if (e.kind == Event::kExcluded) {
        excluded[k] = e.value != 0;
        continue;
      }
      if (!started[k]) win[k].first = e.value;
      started[k] = true;
      win[k].reach = e.value;
      win[k].settled = e.settled;
      if (!started[0] || !started[1]) continue;
      int64_t from = walking ? next : std::max(win[0].first, win[1].first);
      const int64_t known = std::max(win[0].lo(), win[1].lo());
      if (from < known) {  // forgotten before walked: the walk breaks
        if (!closed.empty()) closed.back() = true;
        from = known;
      }
      if (closed.empty() || closed.back()) {
        starts.push_back(walks.size());
        mStarts.push_back(moments.size());
        closed.push_back(false);
      }
      walking = true;
      const int64_t upTo = std::min(fin(0), fin(1));
      if (upTo >= from) walks.push_back(Walk{from, upTo, {win[0], win[1]}, excluded[0] || excluded[1]});
      next = std::max(from, upTo + 1);
      moments.push_back(Moment{next, {fin(0), fin(1)}, excluded[0] || excluded[1]});
      if (over()) {  // the live one has walked past the removed one's end
        closed.back() = true;
        break;
      }
    }
    std::vector<Stretch> out;
    for (size_t i = 0; i < starts.size(); i++) {
      const size_t end = i + 1 < starts.size() ? starts[i + 1] : walks.size();
      const size_t mEnd = i + 1 < mStarts.size() ? mStarts[i + 1] : moments.size();
      if (end > starts[i]) {
        out.push_back(Stretch{walks.data() + starts[i], walks.data() + end, moments.data() + mStarts[i],
                              moments.data() + mEnd, closed[i]});
      }
    }
    return out;
  }

  std::vector<OverlapReport> pairReports(uint32_t lo, uint32_t hi,
                                         const std::map<uint32_t, std::vector<Interval>>& bridged) const {
    std::vector<OverlapReport> out;
    const uint32_t ids[2] = {lo, hi};
    const std::vector<Interval>* br[2] = {&bridged.at(lo), &bridged.at(hi)};
    std::vector<Walk>& walks = walks_;  // reused: a pair's walk has about one entry per frame
    for (const Stretch& st : stretches(lo, hi, walks, moments_)) {
      const int64_t end = st.last();
      const std::vector<Interval> runs = intersect(*br[0], *br[1], st.first(), end);
      size_t i = 0;
      while (i < runs.size()) {
        const int64_t s1 = runs[i].a;
        if (runs[i].b - s1 + 1 < minSlots_) {  // too short, and no overlap waits to be joined
          i++;
          continue;
        }
        const int64_t due = s1 + minSlots_ - 1;  // the minSlots-th slot: the sides are decided there
        const Walk& w = st.at(due);
        const int64_t t0 = turnStart(streams_.at(lo).voice, w.win[0], s1);
        const int64_t t1 = turnStart(streams_.at(hi).voice, w.win[1], s1);
        const int later = t0 > t1 ? 0 : 1;  // ties: the higher id
        const Interval spurt = holding(*br[later], s1);
        const int64_t spurtFrom = std::max(spurt.a, w.win[later].lo());
        const int64_t spurtTo = std::min(spurt.b, end);  // as far as walked in this stretch
        const int64_t at = std::max(due, spurtFrom + kTake - 1);
        // Fired by the later speaker ahead of the walk: at the first moment the walk has counted minSlots
        // and the later stream is final up to `at` (its spurt reaching it), if the walk had not reached `at`.
        const Moment* fired = nullptr;
        if (spurt.b >= at) {
          for (const Moment* m = st.mBegin; m != st.mEnd; ++m) {
            if (m->next - 1 < due || m->final[later] < at) continue;
            if (m->next - 1 < at) fired = m;
            break;
          }
        }
        // Both-slots of the runs from i on, up to slot s.
        auto countTo = [&](int64_t s) {
          int64_t n = 0;
          for (size_t j = i; j < runs.size() && runs[j].a <= s; j++) n += std::min(s, runs[j].b) - runs[j].a + 1;
          return n;
        };
        const bool excluded = fired ? fired->excluded : st.at(std::min(at, end)).excluded;
        auto emit = [&](OverlapReport::Phase phase, int64_t s, int64_t count) {
          out.push_back(OverlapReport{phase, streams_.at(ids[1 - later]).name, streams_.at(ids[later]).name,
                                      s1 * 10.0, (s + 1) * 10.0, count * 10.0, excluded});
        };
        if (at > spurtTo) {  // a backchannel, cut by the stretch's end, or not decided yet
          if (fired) {       // ...but fired: its runs so far are the overlap, ended with the stretch
            emit(OverlapReport::kStart, at, countTo(fired->next - 1));
            if (st.closed) emit(OverlapReport::kEnd, runs.back().b, countTo(end));
            i = runs.size();
            continue;
          }
          while (i < runs.size() && runs[i].a <= spurtTo) i++;
          continue;
        }
        size_t k = i;  // the overlap's runs: i..k
        while (k + 1 < runs.size() && runs[k + 1].a <= at) k++;
        emit(OverlapReport::kStart, at, countTo(fired ? fired->next - 1 : at));
        if (at <= runs[k].b) {
          for (int64_t s = at + kOngoing; s <= runs[k].b; s += kOngoing) emit(OverlapReport::kOngoing, s, countTo(s));
          if (runs[k].b < end || st.closed) emit(OverlapReport::kEnd, runs[k].b, countTo(runs[k].b));
        } else {
          emit(OverlapReport::kEnd, runs[k].b, countTo(runs[k].b));  // the walk reached `at` after it ended
        }
        i = k + 1;
      }
    }
    return out;
  }

  const int64_t minSlots_;
  std::map<uint32_t, Stream> streams_;
  std::vector<Event> log_;
  mutable std::vector<Walk> walks_;
  mutable std::vector<Moment> moments_;
};

void print(const char* who, const OverlapReport& r) {
  static const char* kPhase[] = {"start", "ongoing", "end"};
  std::fprintf(stderr, "  %s: %s %s/%s start %.0f t %.0f overlap %.0f%s\n", who, kPhase[r.phase], r.first.c_str(),
               r.second.c_str(), r.startMs, r.tMs, r.overlapMs, r.excluded ? " excluded" : "");
}

bool same(const OverlapReport& x, const OverlapReport& y) {
  return x.phase == y.phase && x.first == y.first && x.second == y.second && x.startMs == y.startMs &&
         x.tMs == y.tMs && x.overlapMs == y.overlapMs && x.excluded == y.excluded;
}

bool same(const SpeechReport& x, const SpeechReport& y) {
  return x.streamId == y.streamId && x.startMs == y.startMs && x.endMs == y.endMs;
}

/** Both sides' reports, grouped, are equal sequences. */
bool agrees(const TimelineReports& out, const Model& model) {
  bool ok = true;
  std::map<PairKey, std::vector<OverlapReport>> got;
  for (const OverlapReport& r : out.overlaps) got[keyOf(r.first, r.second)].push_back(r);
  const auto want = model.overlaps();
  std::set<PairKey> keys;
  for (const auto& [k, v] : got) keys.insert(k);
  for (const auto& [k, v] : want) keys.insert(k);
  for (const PairKey& k : keys) {
    static const std::vector<OverlapReport> kNone;
    const auto& g = got.count(k) ? got.at(k) : kNone;
    const auto& w = want.count(k) ? want.at(k) : kNone;
    if (g.size() == w.size() && std::equal(g.begin(), g.end(), w.begin(), [](auto& x, auto& y) { return same(x, y); }))
      continue;
    ok = false;
    std::fprintf(stderr, "pair %s/%s differs:\n", k.first.c_str(), k.second.c_str());
    for (const auto& r : g) print("timeline", r);
    for (const auto& r : w) print("model   ", r);
  }
  std::map<uint32_t, std::vector<SpeechReport>> gotSpeech;
  for (const SpeechReport& r : out.speech) gotSpeech[r.streamId].push_back(r);
  const auto wantSpeech = model.speech();
  std::set<uint32_t> ids;
  for (const auto& [id, v] : gotSpeech) ids.insert(id);
  for (const auto& [id, v] : wantSpeech) ids.insert(id);
  for (const uint32_t id : ids) {
    static const std::vector<SpeechReport> kNone;
    const auto& g = gotSpeech.count(id) ? gotSpeech.at(id) : kNone;
    const auto& w = wantSpeech.count(id) ? wantSpeech.at(id) : kNone;
    if (g.size() == w.size() && std::equal(g.begin(), g.end(), w.begin(), [](auto& x, auto& y) { return same(x, y); }))
      continue;
    ok = false;
    std::fprintf(stderr, "speech of stream %u differs:\n", id);
    for (const auto& r : g) std::fprintf(stderr, "  timeline: %.0f..%.0f\n", r.startMs, r.endMs);
    for (const auto& r : w) std::fprintf(stderr, "  model   : %.0f..%.0f\n", r.startMs, r.endMs);
  }
  return ok;
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
  TimelineReports out;
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
    if (frames - checkedAt >= 8192) {  // now and then mid-input too (open spurts and overlaps: not reported yet)
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
  FUZZ_CHECK(timeline.trackCount() == 0);  // no ended track left behind
  return 0;
}
