// The audio engine without N-API: streams (block queue + mute/gap markers + recording + analysis) processed by
// a fixed pool of worker threads; events handed to a delivery callback in batches.
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
#include "block_queue.h"
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
  /** This stream's bound on queued input, milliseconds at sampleRate × channels × 2 bytes (rounded up to a
   *  whole sample frame). The addon always sets it (src/pipeline/engine.ts owns the default). */
  int maxQueueMs = 60000;
  bool excluded = false;
};

/** The stream bound in bytes for `c`: maxQueueMs of input, rounded up to a whole sample frame. */
size_t queueBoundBytes(const StreamConfig& c);

/** Why Stream::push refused its bytes. */
enum class PushResult {
  kOk,              // queued (or, while muted, counted on the clock)
  kClosed,          // after requestClose(): nothing done
  kOverStreamBound, // the stream's queue would pass maxQueueMs: bytes lost (counted, a gap), stream to be closed
  kOverGlobalBound, // the engine's pool has no block left: bytes lost (counted, a gap), stream to be closed
};

struct EngineConfig {
  int threads = 2;
  int statsIntervalMs = 250;
  int overlapMinMs = 500;
  /** Global bound on queued input of all streams, bytes (rounded down to whole blocks, at least one). */
  uint64_t maxQueueBytes = 256ull << 20;
  /** Free blocks the pool keeps for reuse (more are freed): 64 × 16 KiB = 1 MiB. */
  size_t keepFreeBlocks = 64;
  /** A worker's pass timer, ms: it drains and delivers at least this often (the addon keeps 10; unit tests
   *  raise it to show that a push past kWakeQueuedBytes wakes the worker without it). */
  int tickMs = 10;
};

/** Queued bytes above which a push wakes the stream's worker at once (3 blocks, 48 KiB: ~250 ms of 48 kHz
 *  stereo), instead of leaving them for its 10 ms timer. */
constexpr size_t kWakeQueuedBytes = 3 * kBlockBytes;

/** Most bytes of one stream a worker pass drains (16 blocks, 256 KiB: ~1.4 s of 48 kHz stereo), so that a burst of
 *  one stream (up to AUDIO_STREAM_QUEUE_MS of audio) does not hold back the other streams of its worker and the
 *  pass's events; a stream left with more queued makes the next pass start at once. A closing stream is drained
 *  whole (it is finalized in the same pass). */
constexpr size_t kDrainPassBytes = 16 * kBlockBytes;

class Engine;
class Worker;

/**
 * One stream. push/setMuted/setExcluded/requestClose are called on the producer (JS) thread only; everything
 * else happens on the stream's worker thread.
 */
class Stream {
 public:
  /** @param pool the engine's blocks (the stream takes its first block at once); @param engine counters
   *  (may be null: unit tests). @throws std::runtime_error when the recording cannot be created or its header
   *  written (RecordingFile). */
  Stream(uint32_t id, const StreamConfig& config, int statsIntervalMs, std::shared_ptr<BlockPool> pool, Engine* engine = nullptr);

  /**
   * Queue `n` bytes (one memcpy per 16 KiB block touched). While muted nothing is queued, but the bytes still
   * advance the stream clock. Bytes past a bound are not queued: they are counted (overflowBytes), become a
   * gap of the recording, and every later push is refused the same way (the caller closes the stream: its
   * recording ends where the loss began). Wakes the worker when more than kWakeQueuedBytes are queued.
   */
  PushResult push(const uint8_t* data, size_t n);
  /** Producer: every byte pushed so far (muted and lost ones included): the stream clock in bytes. */
  uint64_t receivedBytes() const { return received_; }
  void setMuted(bool muted);
  void setExcluded(bool excluded);
  /** Idempotent: the worker drains what was pushed, finalizes the recording and emits `closed`. */
  void requestClose();

  uint32_t id() const { return identity_->id; }
  const std::shared_ptr<const StreamIdentity>& identity() const { return identity_; }
  uint64_t overflowBytes() const { return overflow_.load(std::memory_order_relaxed); }
  /** This stream's bound on queued bytes. */
  size_t queueBound() const { return queue_.maxBytes(); }
  /** Bytes queued now, not yet drained by the worker. */
  uint64_t queuedBytes() const { return queue_.queuedBytes(); }
  bool closeRequested() const { return closeRequested_.load(std::memory_order_acquire); }

 private:
  friend class Worker;
  friend class Engine;
  struct Marker {
    uint64_t position;  // queue write position when the change was made
    enum Kind { kMute, kUnmute, kGap, kExclude, kInclude } kind;
    uint64_t gapBytes;  // kGap: bytes received but not queued (muted, or lost past a bound)
    bool lost = false;  // kGap: lost past a bound (a gap of the recording), not muted
  };
  void addMarker(Marker m);

  std::shared_ptr<const StreamIdentity> identity_;
  StreamConfig config_;
  BlockQueue queue_;
  std::atomic<uint64_t> overflow_{0};
  Engine* engine_;      // counters and the worker wake-up (may be null)
  Worker* worker_ = nullptr;  // set by Engine::open before the stream is handed to it
  std::atomic<bool> closeRequested_{false};
  // Producer-side state.
  bool mutedP_ = false;
  PushResult overBound_ = PushResult::kOk;  // the first bound passed: every later push is lost the same way
  uint64_t received_ = 0;
  // Markers (rare: a mutex is fine).
  std::mutex markersMutex_;
  std::deque<Marker> markers_;
  std::atomic<uint32_t> markerCount_{0};
  // Worker-side state.
  std::unique_ptr<RecordingFile> recording_;
  StreamAnalysis analysis_;
  bool muted_ = false;
  alignas(4) uint8_t carry_[4] = {0, 0, 0, 0};
  size_t carryBytes_ = 0;
  uint64_t gapRemainder_ = 0;  // gap bytes short of a whole sample frame (the next pushed bytes complete it)
  bool writeFailed_ = false;
  uint64_t handedBytes_ = 0;  // unmuted bytes drained: the recording's data offset had nothing been lost
  std::vector<RecordingGap> gaps_;
};

/** A worker thread and the streams (and meeting timelines) it owns. */
class Worker {
 public:
  Worker(Engine& engine, int index);
  ~Worker();
  void add(std::shared_ptr<Stream> s);
  /** Run a pass now instead of at the next 10 ms tick (any thread; cheap when a wake is pending already). */
  void wake();
  /** Finish every stream and stop; joins the thread. */
  void stop();
  size_t streamCount() const { return count_.load(std::memory_order_relaxed); }

 private:
  class Sink;
  void run();
  /** Drain at most `budget` bytes of `s` (markers applied on the way); returns whether more is queued. */
  bool drain(Stream& s, uint64_t budget);
  /** Analyse `n` drained bytes read in place: completes a sample frame carried from the last span first. */
  void processSpan(Stream& s, const uint8_t* data, size_t n);
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
  std::atomic<bool> wakeRequested_{false};
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
  /** Input bytes lost past a bound, summed over every stream ever opened by this engine. */
  uint64_t overflowBytes() const { return overflow_.load(std::memory_order_relaxed); }
  /** Bytes queued now in all streams (pushed, not yet drained). */
  uint64_t queuedBytes() const { return queued_.load(std::memory_order_relaxed); }
  /** Blocks handed out now (the open streams' queues), and kept free for reuse. */
  size_t blocksInUse() const { return pool_->inUse(); }
  size_t blocksFree() const { return pool_->freeBlocks(); }
  size_t maxBlocks() const { return pool_->maxBlocks(); }
  /** Streams that passed their own bound, and the global bound, since the engine started. */
  uint64_t streamsOverStreamBound() const { return overStream_.load(std::memory_order_relaxed); }
  uint64_t streamsOverGlobalBound() const { return overGlobal_.load(std::memory_order_relaxed); }
  size_t streamCount() const;
  /** Events kept from a dropped batch are waiting for the next delivery. */
  bool hasCarry() const { return hasCarry_.load(std::memory_order_relaxed); }

 private:
  friend class Worker;
  friend class Stream;
  void deliver(EventBatch&& batch, bool stopping);

  EngineConfig config_;
  std::shared_ptr<BlockPool> pool_;
  Deliver deliver_;
  std::atomic<uint64_t> queued_{0};
  std::atomic<uint64_t> overStream_{0};
  std::atomic<uint64_t> overGlobal_{0};
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
