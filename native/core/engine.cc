#include "engine.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace meetcore {

static_assert(sizeof(int16_t) == 2, "s16 samples");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "PCM s16le is read in place: a little-endian host is required"
#endif

namespace {
constexpr auto kFlushEvery = std::chrono::milliseconds(500);
}  // namespace

// ---------------------------------------------------------------------------------------------- Stream

size_t queueBoundBytes(const StreamConfig& c) {
  const uint64_t frameBytes = static_cast<uint64_t>(c.channels) * 2;
  const uint64_t frames = (static_cast<uint64_t>(c.maxQueueMs) * static_cast<uint64_t>(c.sampleRate) + 999) / 1000;
  return static_cast<size_t>(frames * frameBytes);
}

Stream::Stream(uint32_t id, const StreamConfig& c, int statsIntervalMs, std::shared_ptr<BlockPool> pool, Engine* engine)
    : identity_(std::make_shared<StreamIdentity>(StreamIdentity{id, c.meetingId, c.participantId})),
      config_(c),
      queue_(std::move(pool), queueBoundBytes(c)),
      engine_(engine),
      analysis_(c.sampleRate, c.channels, c.startedAtMs, c.groupSeconds, c.segments, statsIntervalMs) {
  if (!c.recordingPath.empty()) {
    recording_ = std::make_unique<RecordingFile>(c.recordingPath, static_cast<uint32_t>(c.sampleRate), static_cast<uint16_t>(c.channels));
  }
}

PushResult Stream::push(const uint8_t* data, size_t n) {
  if (closeRequested_.load(std::memory_order_relaxed)) return PushResult::kClosed;
  if (n == 0) return overBound_;
  received_ += n;
  if (mutedP_) {
    addMarker({queue_.writePosition(), Marker::kGap, n, false});
    return overBound_;
  }
  if (overBound_ == PushResult::kOk) {
    // Counted before the bytes are visible to the worker, which subtracts them as it drains (never below 0).
    if (engine_) engine_->queued_.fetch_add(n, std::memory_order_relaxed);
    const BlockQueue::WriteResult r = queue_.write(data, n);
    if (r == BlockQueue::WriteResult::kOk) {
      if (worker_ && queue_.queuedBytes() > kWakeQueuedBytes) worker_->wake();
      return PushResult::kOk;
    }
    if (engine_) engine_->queued_.fetch_sub(n, std::memory_order_relaxed);
    overBound_ = r == BlockQueue::WriteResult::kOverPoolBound ? PushResult::kOverGlobalBound : PushResult::kOverStreamBound;
    if (engine_) (overBound_ == PushResult::kOverGlobalBound ? engine_->overGlobal_ : engine_->overStream_).fetch_add(1, std::memory_order_relaxed);
  }
  // Past a bound: lost, counted, and a gap of the recording (the clock still advances over it).
  overflow_.fetch_add(n, std::memory_order_relaxed);
  if (engine_) engine_->overflow_.fetch_add(n, std::memory_order_relaxed);
  addMarker({queue_.writePosition(), Marker::kGap, n, true});
  if (worker_) worker_->wake();
  return overBound_;
}

void Stream::setMuted(bool muted) {
  if (muted == mutedP_ || closeRequested_.load(std::memory_order_relaxed)) return;
  mutedP_ = muted;
  addMarker({queue_.writePosition(), muted ? Marker::kMute : Marker::kUnmute, 0});
}

void Stream::setExcluded(bool excluded) {
  if (closeRequested_.load(std::memory_order_relaxed)) return;
  addMarker({queue_.writePosition(), excluded ? Marker::kExclude : Marker::kInclude, 0});
}

void Stream::requestClose() { closeRequested_.store(true, std::memory_order_release); }

void Stream::addMarker(Marker m) {
  std::lock_guard<std::mutex> lock(markersMutex_);
  if (m.kind == Marker::kGap && !markers_.empty() && markers_.back().kind == Marker::kGap &&
      markers_.back().position == m.position && markers_.back().lost == m.lost) {
    markers_.back().gapBytes += m.gapBytes;  // consecutive muted (or lost) pushes: one gap
    return;
  }
  markers_.push_back(m);
  markerCount_.fetch_add(1, std::memory_order_release);
}

// ---------------------------------------------------------------------------------------------- Worker

/** Routes what a stream's analysis produces into the worker's batch and the meeting timeline. */
class Worker::Sink : public AnalysisSink {
 public:
  Sink(Worker& w, Stream& s, MeetingTimeline* t) : w_(w), s_(s), t_(t) {}
  void onFrame(const FrameResult& f) override {
    if (t_) t_->onFrame(s_.id(), f.slot, f.speaking, w_.reports_);
  }
  void onStats(const StatsSnapshot& st) override {
    w_.batch_.addStats(s_.id(), st, s_.overflowBytes(), s_.recording_ ? s_.recording_->dataBytes() : 0);
  }
  void onSegment(uint32_t index, double startMs, double endMs, std::vector<uint8_t>&& wav) override {
    Event e(Event::kSegment, s_.identity());
    e.segmentIndex = index;
    e.startMs = startMs;
    e.endMs = endMs;
    e.wav = std::move(wav);
    w_.batch_.push_back(std::move(e));
  }

 private:
  Worker& w_;
  Stream& s_;
  MeetingTimeline* t_;
};

Worker::Worker(Engine& engine, int) : engine_(engine), thread_([this] { run(); }) {}

Worker::~Worker() { stop(); }

void Worker::add(std::shared_ptr<Stream> s) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.push_back(std::move(s));
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  cv_.notify_one();
}

void Worker::wake() {
  if (wakeRequested_.exchange(true, std::memory_order_acq_rel)) return;  // a wake is pending already
  { std::lock_guard<std::mutex> lock(mutex_); }  // the worker is either before its check or waiting
  cv_.notify_one();
}

void Worker::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

MeetingTimeline& Worker::timeline(const std::string& meetingId) {
  auto& t = meetings_[meetingId];
  if (!t) t = std::make_unique<MeetingTimeline>(engine_.config().overlapMinMs);
  return *t;
}

void Worker::run() {
  auto lastFlush = std::chrono::steady_clock::now();
  for (;;) {
    bool stop;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait_for(lock, std::chrono::milliseconds(engine_.config().tickMs), [this] { return stopping_ || !pending_.empty() || wakeRequested_.load(std::memory_order_acquire); });
      wakeRequested_.store(false, std::memory_order_release);
      for (auto& s : pending_) {
        MeetingTimeline& t = timeline(s->config_.meetingId);
        t.addStream(s->id(), s->config_.participantId);
        t.setExcluded(s->id(), s->config_.excluded);
        streams_.push_back(std::move(s));
      }
      pending_.clear();
      stop = stopping_;
    }
    // Every stream is drained before the closing ones are finalized: what a pass reads is on the meetings'
    // timelines before any of its streams ends, whatever the order of the streams.
    closing_.resize(streams_.size());
    bool more = false;
    for (size_t i = 0; i < streams_.size(); i++) {
      closing_[i] = stop || streams_[i]->closeRequested();  // read before draining: bytes pushed before close are seen
      more |= drain(*streams_[i], closing_[i] ? UINT64_MAX : kDrainPassBytes);
    }
    if (more) wakeRequested_.store(true, std::memory_order_release);  // the next pass starts without waiting
    size_t kept = 0;
    for (size_t i = 0; i < streams_.size(); i++) {
      if (closing_[i]) {
        finalize(*streams_[i]);
        count_.fetch_sub(1, std::memory_order_relaxed);
      } else {
        if (kept != i) streams_[kept] = std::move(streams_[i]);
        kept++;
      }
    }
    streams_.resize(kept);
    const auto now = std::chrono::steady_clock::now();
    if (now - lastFlush >= kFlushEvery) {
      flushRecordings();
      lastFlush = now;
    }
    if (!batch_.empty() || engine_.hasCarry()) {
      engine_.deliver(std::move(batch_), stop);
      batch_ = EventBatch();
    }
    if (stop) break;
  }
}

bool Worker::drain(Stream& s, uint64_t budget) {
  for (uint64_t drained = 0;;) {
    Stream::Marker next{};
    bool hasMarker = false;
    if (s.markerCount_.load(std::memory_order_acquire) > 0) {
      std::lock_guard<std::mutex> lock(s.markersMutex_);
      if (!s.markers_.empty()) {
        next = s.markers_.front();
        hasMarker = true;
      }
    }
    const uint64_t tail = s.queue_.readPosition();
    if (hasMarker && next.position <= tail) {
      {
        std::lock_guard<std::mutex> lock(s.markersMutex_);
        next = s.markers_.front();  // a gap marker may have grown since
        s.markers_.pop_front();
        s.markerCount_.fetch_sub(1, std::memory_order_relaxed);
      }
      applyMarker(s, next);
      continue;
    }
    if (drained >= budget) {
      takeReports(s);
      return true;
    }
    const BlockQueue::Span span = s.queue_.peek();
    size_t n = span.size;
    if (hasMarker) n = std::min<uint64_t>(n, next.position - tail);
    if (n == 0) {
      takeReports(s);  // a gap marker alone may have advanced the timeline
      return false;
    }
    // Written and analysed in place, straight from the block; the block is handed back after.
    if (s.recording_ && !s.writeFailed_ && !s.recording_->write(span.data, n)) {
      s.writeFailed_ = true;
      Event e(Event::kError, s.identity());
      e.code = "write_failed";
      e.message = s.recording_->error();
      batch_.push_back(std::move(e));
    }
    s.handedBytes_ += n;
    processSpan(s, span.data, n);
    s.queue_.consume(n);
    engine_.queued_.fetch_sub(n, std::memory_order_relaxed);
    drained += n;
  }
}

void Worker::processSpan(Stream& s, const uint8_t* data, size_t n) {
  const size_t frameBytes = static_cast<size_t>(s.config_.channels) * 2;
  if (s.carryBytes_ > 0) {
    const size_t k = std::min(n, frameBytes - s.carryBytes_);
    std::memcpy(s.carry_ + s.carryBytes_, data, k);
    s.carryBytes_ += k;
    data += k;
    n -= k;
    if (s.carryBytes_ < frameBytes) return;
    alignas(4) uint8_t frame[4];
    std::memcpy(frame, s.carry_, frameBytes);
    s.carryBytes_ = 0;
    processBytes(s, frame, frameBytes);
  }
  if (n > 0) processBytes(s, data, n);
}

void Worker::processBytes(Stream& s, const uint8_t* data, size_t n) {
  const size_t frameBytes = static_cast<size_t>(s.config_.channels) * 2;
  auto it = meetings_.find(s.config_.meetingId);
  Sink sink(*this, s, it == meetings_.end() ? nullptr : it->second.get());
  if (s.gapRemainder_ > 0 && n > 0) {
    // A gap ended inside a sample frame: the first bytes after it complete that frame of the clock (recorded,
    // not analysed), so the clock stays floor(all bytes / frameBytes) (the carry is empty after a gap).
    const size_t k = std::min<size_t>(n, frameBytes - s.gapRemainder_);
    s.gapRemainder_ += k;
    data += k;
    n -= k;
    if (s.gapRemainder_ == frameBytes) {
      s.gapRemainder_ = 0;
      s.analysis_.skip(1, s.muted_, sink);
    }
  }
  std::vector<int16_t> aligned;
  if (reinterpret_cast<uintptr_t>(data) % alignof(int16_t) != 0 && n >= frameBytes) {
    aligned.resize((n + 1) / 2);  // after an odd k: samples are read in place as int16 (rare: a gap inside a sample)
    std::memcpy(aligned.data(), data, n);
    data = reinterpret_cast<const uint8_t*>(aligned.data());
  }
  const size_t frames = n / frameBytes;
  s.analysis_.feed(reinterpret_cast<const int16_t*>(data), frames, sink);
  s.carryBytes_ = n - frames * frameBytes;
  std::copy(data + frames * frameBytes, data + n, s.carry_);
  takeReports(s);
}

void Worker::takeReports(Stream& s) {
  if (reports_.empty()) return;
  for (const SpeechReport& r : reports_.speech) {
    Event e(Event::kSpeech, s.identity());  // a timeline reports the spurts of the stream it is fed
    e.startMs = r.startMs;
    e.endMs = r.endMs;
    batch_.push_back(std::move(e));
  }
  for (auto& o : reports_.overlaps) {
    Event e(Event::kOverlap, nullptr);
    e.meetingId = s.config_.meetingId;
    e.overlap = std::move(o);
    batch_.push_back(std::move(e));
  }
  reports_.speech.clear();
  reports_.overlaps.clear();
}

void Worker::applyMarker(Stream& s, const Stream::Marker& m) {
  MeetingTimeline& t = timeline(s.config_.meetingId);
  switch (m.kind) {
    case Stream::Marker::kMute:
      s.muted_ = true;  // a partial sample frame carried here is completed by the next unmuted bytes, or
                        // becomes part of the clock's gap if bytes are pushed while muted (kGap)
      t.setMuted(s.id(), true);
      break;
    case Stream::Marker::kUnmute:
      s.muted_ = false;
      t.setMuted(s.id(), false);
      break;
    case Stream::Marker::kExclude:
      t.setExcluded(s.id(), true);
      break;
    case Stream::Marker::kInclude:
      t.setExcluded(s.id(), false);
      break;
    case Stream::Marker::kGap: {
      if (m.lost) {
        if (!s.gaps_.empty() && s.gaps_.back().offset == s.handedBytes_) s.gaps_.back().bytes += m.gapBytes;
        else s.gaps_.push_back({s.handedBytes_, m.gapBytes});
      }
      const uint64_t frameBytes = static_cast<uint64_t>(s.config_.channels) * 2;
      s.gapRemainder_ += s.carryBytes_ + m.gapBytes;  // recorded carried bytes still advance the clock
      s.carryBytes_ = 0;
      const uint64_t frames = s.gapRemainder_ / frameBytes;
      s.gapRemainder_ %= frameBytes;
      Sink sink(*this, s, &t);
      s.analysis_.skip(frames, s.muted_, sink);
      break;
    }
  }
}

void Worker::finalize(Stream& s) {
  auto it = meetings_.find(s.config_.meetingId);
  Sink sink(*this, s, it == meetings_.end() ? nullptr : it->second.get());
  s.analysis_.finish(sink);
  if (it != meetings_.end()) {
    it->second->removeStream(s.id(), reports_);
    takeReports(s);
    if (it->second->empty()) meetings_.erase(it);
  }
  if (s.recording_ && !s.recording_->close() && !s.writeFailed_) {
    Event e(Event::kError, s.identity());
    e.code = "write_failed";
    e.message = s.recording_->error();
    batch_.push_back(std::move(e));
  }
  Event closed(Event::kClosed, s.identity());
  closed.recordedBytes = s.recording_ ? s.recording_->dataBytes() : 0;
  if (s.recording_ && s.recording_->failed()) {
    // The file ends at dataBytes: everything handed to the writer after that, and every gap past it, is missing there.
    const uint64_t end = s.recording_->dataBytes();
    uint64_t lost = s.handedBytes_ > end ? s.handedBytes_ - end : 0;
    std::vector<RecordingGap> kept;
    for (const RecordingGap& g : s.gaps_) {
      if (g.offset < end) kept.push_back(g);
      else lost += g.bytes;
    }
    if (lost > 0) kept.push_back({end, lost});
    s.gaps_ = std::move(kept);
  }
  closed.gaps = s.gaps_;
  closed.endMs = s.analysis_.timeMs(s.analysis_.sampleIndex());
  closed.overflowBytes = s.overflowBytes();
  batch_.push_back(std::move(closed));
  // The stream is finished: its blocks go back to the pool now (the JS wrapper may live on). Pushes are refused
  // from here on (the producer checks closeRequested first).
  s.closeRequested_.store(true, std::memory_order_release);
  engine_.queued_.fetch_sub(s.queue_.queuedBytes(), std::memory_order_relaxed);
  s.queue_.clear();
}

void Worker::flushRecordings() {
  for (auto& s : streams_) {
    if (!s->recording_ || s->writeFailed_) continue;
    if (!s->recording_->flush()) {
      s->writeFailed_ = true;
      Event e(Event::kError, s->identity());
      e.code = "write_failed";
      e.message = s->recording_->error();
      batch_.push_back(std::move(e));
    }
  }
}

// ---------------------------------------------------------------------------------------------- Engine

Engine::Engine(const EngineConfig& config, Deliver deliver)
    : config_(config),
      pool_(std::make_shared<BlockPool>(static_cast<size_t>(config.maxQueueBytes / kBlockBytes), config.keepFreeBlocks)),
      deliver_(std::move(deliver)) {
  const int n = std::max(1, config.threads);
  for (int i = 0; i < n; i++) workers_.push_back(std::make_unique<Worker>(*this, i));
}

Engine::~Engine() { stop(); }

std::shared_ptr<Stream> Engine::open(const StreamConfig& config) {
  if (stopped_.load()) throw std::runtime_error("the audio engine is closed");
  auto s = std::make_shared<Stream>(nextId_.fetch_add(1), config, config_.statsIntervalMs, pool_, this);
  const size_t w = std::hash<std::string>{}(config.meetingId) % workers_.size();
  s->worker_ = workers_[w].get();
  workers_[w]->add(s);
  return s;
}

EventBatch Engine::stop() {
  if (stopped_.exchange(true)) return {};
  for (auto& w : workers_) w->stop();
  // What could not be queued even at the end is handed to the caller with the final `closed` events.
  std::vector<Event> errors;
  {
    std::lock_guard<std::mutex> carryLock(carryMutex_);
    for (auto& e : carry_) {
      if (e.type == Event::kError) errors.push_back(std::move(e));  // closed ones are in finalClosed_ already
    }
    carry_.clear();
    hasCarry_.store(false, std::memory_order_relaxed);
  }
  std::lock_guard<std::mutex> lock(finalMutex_);
  for (auto& e : errors) finalClosed_.push_back(std::move(e));
  return std::move(finalClosed_);
}

size_t Engine::streamCount() const {
  size_t n = 0;
  for (auto& w : workers_) n += w->streamCount();
  return n;
}

void Engine::deliver(EventBatch&& batch, bool stopping) {
  std::lock_guard<std::mutex> lock(carryMutex_);
  if (!carry_.empty()) {
    // Events kept from a dropped batch go first: per stream, their order is kept.
    for (auto& e : batch.events) carry_.push_back(std::move(e));
    batch.events = std::move(carry_);
    carry_.clear();
  }
  if (stopping) {
    std::lock_guard<std::mutex> finalLock(finalMutex_);
    for (auto& e : batch) {
      if (e.type == Event::kClosed) finalClosed_.push_back(e);
    }
  }
  if (batch.empty()) return;
  if (deliver_(batch)) {
    hasCarry_.store(false, std::memory_order_relaxed);
    return;
  }
  // The queue is full: the batch is dropped and counted, except its closed and error events, which are kept
  // for the next delivery (a worker retries every ~10 ms even with nothing new to send).
  dropped_.fetch_add(1, std::memory_order_relaxed);
  for (auto& e : batch.events) {
    if (e.type == Event::kClosed || e.type == Event::kError) carry_.push_back(std::move(e));
  }
  hasCarry_.store(!carry_.empty(), std::memory_order_relaxed);
}

}  // namespace meetcore
