// The audio engine without N-API: streams (ring buffer + mute markers + recording + analysis) processed by a
// fixed pool of worker threads; events handed to a delivery callback in batches.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../dsp/analysis.h"
#include "../dsp/overlap.h"
#include "../dsp/ring_buffer.h"
#include "events.h"
#include "recording.h"

namespace meetcore {

struct StreamConfig {
  std::string meetingId;
  std::string participantId;
  int sampleRate = 48000;
  int channels = 2;
  double groupSeconds = 2;
  bool segments = false;
  double startedAtMs = 0;
  std::string recordingPath;  // empty: no recording
  /** Ring capacity in milliseconds of input at sampleRate × channels × 2 bytes (rounded up to a whole
   *  sample frame). The addon always sets it (src/pipeline/engine.ts owns the default). */
  int ringMs = 1000;
  bool excluded = false;
};

/** Ring capacity in bytes for `c`: ringMs of input, rounded up to a whole sample frame. */
size_t ringBytes(const StreamConfig& c);

struct EngineConfig {
  int threads = 2;
  int statsIntervalMs = 250;
  int overlapMinMs = 500;
};

class Engine;

/**
 * One stream. push/setMuted/setExcluded/requestClose are called on the producer (JS) thread only; everything
 * else happens on the stream's worker thread.
 */
class Stream {
 public:
  /** @throws std::runtime_error when the recording cannot be created or its header written (RecordingFile). */
  Stream(uint32_t id, const StreamConfig& config, int statsIntervalMs, std::atomic<uint64_t>* overflowTotal = nullptr);

  /** Copy `n` bytes into the ring (exactly one memcpy). While muted nothing is copied, but the bytes still
   *  advance the stream clock. Bytes that do not fit are dropped and counted. Returns false after close. */
  bool push(const uint8_t* data, size_t n);
  /** Producer: every byte pushed so far (muted and dropped ones included): the stream clock in bytes. */
  uint64_t receivedBytes() const { return received_; }
  void setMuted(bool muted);
  void setExcluded(bool excluded);
  /** Idempotent: the worker drains what was pushed, finalizes the recording and emits `closed`. */
  void requestClose();

  uint32_t id() const { return identity_->id; }
  const std::shared_ptr<const StreamIdentity>& identity() const { return identity_; }
  uint64_t overflowBytes() const { return overflow_.load(std::memory_order_relaxed); }
  size_t ringCapacity() const { return ring_.capacity(); }
  bool closeRequested() const { return closeRequested_.load(std::memory_order_acquire); }

 private:
  friend class Worker;
  struct Marker {
    uint64_t position;  // ring head position when the change was made
    enum Kind { kMute, kUnmute, kGap, kExclude, kInclude } kind;
    uint64_t gapBytes;  // kGap: bytes received but not copied (muted, or dropped on overflow)
  };
  void addMarker(Marker m);

  std::shared_ptr<const StreamIdentity> identity_;
  StreamConfig config_;
  RingBuffer ring_;
  std::atomic<uint64_t> overflow_{0};
  std::atomic<uint64_t>* overflowTotal_;  // the engine's sum over all streams (may be null)
  std::atomic<bool> closeRequested_{false};
  // Producer-side state.
  bool mutedP_ = false;
  uint64_t received_ = 0;
  // Markers (rare: a mutex is fine).
  std::mutex markersMutex_;
  std::deque<Marker> markers_;
  std::atomic<uint32_t> markerCount_{0};
  // Worker-side state.
  std::unique_ptr<RecordingFile> recording_;
  StreamAnalysis analysis_;
  bool muted_ = false;
  uint8_t carry_[4] = {0, 0, 0, 0};
  size_t carryBytes_ = 0;
  uint64_t gapRemainder_ = 0;  // gap bytes short of a whole sample frame (the next pushed bytes complete it)
  bool writeFailed_ = false;
};

/** A worker thread and the streams (and meeting timelines) it owns. */
class Worker {
 public:
  Worker(Engine& engine, int index);
  ~Worker();
  void add(std::shared_ptr<Stream> s);
  void wake();
  /** Finish every stream and stop; joins the thread. */
  void stop();
  size_t streamCount() const { return count_.load(std::memory_order_relaxed); }

 private:
  class Sink;
  void run();
  void drain(Stream& s, std::vector<uint8_t>& scratch);
  void processBytes(Stream& s, const uint8_t* data, size_t n);
  void applyMarker(Stream& s, const Stream::Marker& m);
  void finalize(Stream& s);
  void flushRecordings();
  MeetingTimeline& timeline(const std::string& meetingId);
  /** Move the timeline's reports (made while processing `s`: its talk spurts, its meeting's overlaps) into the batch. */
  void takeReports(Stream& s);

  Engine& engine_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<Stream>> pending_;
  bool stopping_ = false;
  std::atomic<size_t> count_{0};
  std::vector<std::shared_ptr<Stream>> streams_;
  std::vector<char> closing_;  // per stream of streams_, during a pass of run()
  std::unordered_map<std::string, std::unique_ptr<MeetingTimeline>> meetings_;
  EventBatch batch_;
  TimelineReports reports_;  // what the meeting timelines reported while processing one stream
  std::thread thread_;
};

/**
 * The engine: `threads` workers; a stream goes to worker hash(meetingId) % threads so a meeting's overlap
 * timeline is single-threaded. `deliver` is called from worker threads (one at a time) with each non-empty
 * batch; it takes the batch (moves out of it) and returns true, or returns false and leaves it when it could
 * not be queued. A batch that could not be queued is counted in droppedBatches(); its stats rows, segments
 * and overlap reports are lost, but its `closed` and `error` events are kept and go first in the next
 * delivery (retried every ~10 ms even when nothing new happened), or are returned by stop().
 */
class Engine {
 public:
  using Deliver = std::function<bool(EventBatch&)>;
  Engine(const EngineConfig& config, Deliver deliver);
  ~Engine();

  /** @throws std::runtime_error when the recording cannot be created or its header written (the message ends
   *  with the strerror text; no file is left), or after stop(). */
  std::shared_ptr<Stream> open(const StreamConfig& config);
  /** Finishes every open stream (recordings final), joins the workers; idempotent. Returns the `closed`
   *  events of the streams finished by it, and the `closed`/`error` events still kept from dropped batches. */
  EventBatch stop();

  const EngineConfig& config() const { return config_; }
  uint64_t droppedBatches() const { return dropped_.load(std::memory_order_relaxed); }
  /** Input bytes dropped on full rings, summed over every stream ever opened by this engine. */
  uint64_t overflowBytes() const { return overflow_.load(std::memory_order_relaxed); }
  size_t streamCount() const;
  /** Events kept from a dropped batch are waiting for the next delivery. */
  bool hasCarry() const { return hasCarry_.load(std::memory_order_relaxed); }

 private:
  friend class Worker;
  void deliver(EventBatch&& batch, bool stopping);

  EngineConfig config_;
  Deliver deliver_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<uint32_t> nextId_{1};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> overflow_{0};
  std::atomic<bool> stopped_{false};
  std::mutex finalMutex_;
  EventBatch finalClosed_;
  std::mutex carryMutex_;  // also serializes calls of deliver_
  std::vector<Event> carry_;
  std::atomic<bool> hasCarry_{false};
};

}  // namespace meetcore
