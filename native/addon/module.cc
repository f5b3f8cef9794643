// N-API glue (node-addon-api): the AudioEngine and AudioStream classes over core/engine.h.
// Rules (ARCHITECTURE.md): no napi_value off the JS thread; nothing throws across threads; one bounded
// thread-safe function per engine delivers event batches, unref'd so an idle engine never holds the process;
// an env cleanup hook stops the workers.
#include <napi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include <memory>
#include <string>

#include "../core/engine.h"

namespace meetcore {
namespace {

using Batch = EventBatch;

void CallJs(Napi::Env env, Napi::Function callback, std::nullptr_t*, Batch* batch);
using Tsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Batch, CallJs>;

Napi::Object EventObject(Napi::Env env, Event& e) {
  Napi::Object o = Napi::Object::New(env);
  switch (e.type) {
    case Event::kSegment: {
      o.Set("type", "segment");
      o.Set("streamId", e.stream->id);
      o.Set("meetingId", e.stream->meetingId);
      o.Set("participantId", e.stream->participantId);
      o.Set("index", e.segmentIndex);
      o.Set("startMs", e.startMs);
      o.Set("endMs", e.endMs);
      auto* bytes = new std::vector<uint8_t>(std::move(e.wav));
      o.Set("wav", Napi::Buffer<uint8_t>::New(env, bytes->data(), bytes->size(),
                                              [](Napi::Env, uint8_t*, std::vector<uint8_t>* v) { delete v; }, bytes));
      break;
    }
    case Event::kSpeech:
      o.Set("type", "speech");
      o.Set("streamId", e.stream->id);
      o.Set("meetingId", e.stream->meetingId);
      o.Set("participantId", e.stream->participantId);
      o.Set("startMs", e.startMs);
      o.Set("endMs", e.endMs);
      break;
    case Event::kOverlap: {
      static const char* kPhases[] = {"start", "ongoing", "end"};
      o.Set("type", "overlap");
      o.Set("meetingId", e.meetingId);
      o.Set("phase", kPhases[e.overlap.phase]);
      Napi::Array p = Napi::Array::New(env, 2);
      p.Set(0u, e.overlap.first);
      p.Set(1u, e.overlap.second);
      o.Set("participants", p);
      o.Set("laterParticipantId", e.overlap.second);
      o.Set("startMs", e.overlap.startMs);
      o.Set("tMs", e.overlap.tMs);
      o.Set("overlapMs", e.overlap.overlapMs);
      o.Set("excluded", e.overlap.excluded);
      break;
    }
    case Event::kClosed:
      o.Set("type", "closed");
      o.Set("streamId", e.stream->id);
      o.Set("meetingId", e.stream->meetingId);
      o.Set("participantId", e.stream->participantId);
      o.Set("recordedBytes", static_cast<double>(e.recordedBytes));
      o.Set("endMs", e.endMs);
      o.Set("overflowBytes", static_cast<double>(e.overflowBytes));
      {
        Napi::Array gaps = Napi::Array::New(env, e.gaps.size());
        for (size_t i = 0; i < e.gaps.size(); i++) {
          Napi::Object g = Napi::Object::New(env);
          g.Set("offset", static_cast<double>(e.gaps[i].offset));
          g.Set("bytes", static_cast<double>(e.gaps[i].bytes));
          gaps.Set(static_cast<uint32_t>(i), g);
        }
        o.Set("gaps", gaps);
      }
      break;
    case Event::kError:
      o.Set("type", "error");
      o.Set("streamId", e.stream->id);
      o.Set("meetingId", e.stream->meetingId);
      o.Set("code", e.code);
      o.Set("message", e.message);
      break;
  }
  return o;
}

/** The events of a batch as objects (stats excluded). */
Napi::Array EventArray(Napi::Env env, std::vector<Event>& events) {
  Napi::Array arr = Napi::Array::New(env, events.size());
  for (size_t i = 0; i < events.size(); i++) arr.Set(static_cast<uint32_t>(i), EventObject(env, events[i]));
  return arr;
}

// onEvents(events: object[], stats: Float64Array | null): the stats rows of the batch packed in one typed array
// (rows × kStatsFieldCount doubles, columns of stats_fields.h), null when the batch has none.
void CallJs(Napi::Env env, Napi::Function callback, std::nullptr_t*, Batch* batch) {
  std::unique_ptr<Batch> owned(batch);
  if (env == nullptr || callback.IsEmpty()) return;  // finalizing: drop
  Napi::Value stats = env.Null();
  if (!owned->stats.empty()) {
    auto rows = Napi::Float64Array::New(env, owned->stats.size());
    std::memcpy(rows.Data(), owned->stats.data(), owned->stats.size() * sizeof(double));
    stats = rows;
  }
  callback.Call({EventArray(env, owned->events), stats});
}

// statsFields() → the column names of a stats row, in order (src/pipeline/stats.ts checks them at load).
Napi::Value StatsFields(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array arr = Napi::Array::New(env, kStatsFieldCount);
  const char* const* names = statsFieldNames();
  for (size_t i = 0; i < kStatsFieldCount; i++) arr.Set(static_cast<uint32_t>(i), names[i]);
  return arr;
}

// ------------------------------------------------------------------------------------------ AudioStream

class AudioStreamWrap : public Napi::ObjectWrap<AudioStreamWrap> {
 public:
  static Napi::FunctionReference* constructor;

  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "AudioStream",
                       {InstanceMethod<&AudioStreamWrap::Push>("push"),
                        InstanceMethod<&AudioStreamWrap::SetMuted>("setMuted"),
                        InstanceMethod<&AudioStreamWrap::SetExcluded>("setExcluded"),
                        InstanceMethod<&AudioStreamWrap::Close>("close"),
                        InstanceAccessor<&AudioStreamWrap::Id>("id"),
                        InstanceAccessor<&AudioStreamWrap::OverflowBytes>("overflowBytes"),
                        InstanceAccessor<&AudioStreamWrap::QueueBound>("queueBoundBytes"),
                        InstanceAccessor<&AudioStreamWrap::QueuedBytes>("queuedBytes"),
                        InstanceAccessor<&AudioStreamWrap::ReceivedBytes>("receivedBytes")});
  }

  explicit AudioStreamWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AudioStreamWrap>(info) {
    if (info.Length() != 2 || !info[0].IsExternal() || !info[1].IsNumber()) {
      Napi::TypeError::New(info.Env(), "AudioStream is created by AudioEngine.openStream").ThrowAsJavaScriptException();
      return;
    }
    stream_ = *info[0].As<Napi::External<std::shared_ptr<Stream>>>().Data();
    maxPushBytes_ = static_cast<size_t>(info[1].As<Napi::Number>().Int64Value());
  }

  ~AudioStreamWrap() override {
    if (stream_) stream_->requestClose();  // backstop: close() is the API
  }

 private:
  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint8_t* data = nullptr;
    size_t n = 0;
    if (info.Length() >= 1 && info[0].IsTypedArray()) {
      auto ta = info[0].As<Napi::TypedArray>();
      auto ab = ta.ArrayBuffer();
      data = static_cast<const uint8_t*>(ab.Data()) + ta.ByteOffset();
      n = ta.ByteLength();
    } else if (info.Length() >= 1 && info[0].IsArrayBuffer()) {
      auto ab = info[0].As<Napi::ArrayBuffer>();
      data = static_cast<const uint8_t*>(ab.Data());
      n = ab.ByteLength();
    } else {
      Napi::TypeError::New(env, "push(chunk): chunk must be a Uint8Array or ArrayBuffer").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    // Result codes (src/pipeline/types.ts PUSH_*): 0 queued, 1 over maxPushBytes (refused whole: not copied,
    // not counted), 2 past the stream's bound, 3 past the engine's bound (both: lost, counted, a gap).
    if (n > maxPushBytes_) return Napi::Number::New(env, 1);
    switch (stream_->push(data, n)) {
      case PushResult::kOk: return Napi::Number::New(env, 0);
      case PushResult::kOverStreamBound: return Napi::Number::New(env, 2);
      case PushResult::kOverGlobalBound: return Napi::Number::New(env, 3);
      case PushResult::kClosed: break;
    }
    Napi::Error::New(env, "push on a closed AudioStream").ThrowAsJavaScriptException();
    return env.Undefined();
  }

  Napi::Value SetMuted(const Napi::CallbackInfo& info) {
    stream_->setMuted(info.Length() > 0 && info[0].ToBoolean().Value());
    return info.Env().Undefined();
  }

  Napi::Value SetExcluded(const Napi::CallbackInfo& info) {
    stream_->setExcluded(info.Length() > 0 && info[0].ToBoolean().Value());
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    stream_->requestClose();
    return info.Env().Undefined();
  }

  Napi::Value Id(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), stream_->id()); }
  Napi::Value OverflowBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(stream_->overflowBytes())); }
  Napi::Value QueueBound(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(stream_->queueBound())); }
  Napi::Value QueuedBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(stream_->queuedBytes())); }
  Napi::Value ReceivedBytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(stream_->receivedBytes())); }

  std::shared_ptr<Stream> stream_;
  size_t maxPushBytes_ = 0;
};

Napi::FunctionReference* AudioStreamWrap::constructor = nullptr;

// ------------------------------------------------------------------------------------------ AudioEngine

// Options are read strictly: src/pipeline/engine.ts validates them and owns every default, so a missing,
// mistyped or out-of-range key here is a programming error (e.g. a renamed option) and throws a TypeError /
// RangeError naming the key instead of silently falling back to a second set of defaults.
bool IntOption(Napi::Object o, const char* key, int min, int max, int& out) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) {
    Napi::TypeError::New(o.Env(), std::string("native option ") + key + " must be a number").ThrowAsJavaScriptException();
    return false;
  }
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || d != static_cast<double>(static_cast<int64_t>(d))) {
    Napi::RangeError::New(o.Env(), std::string("native option ") + key + " must be an integer in " + std::to_string(min) + ".." + std::to_string(max)).ThrowAsJavaScriptException();
    return false;
  }
  out = static_cast<int>(d);
  return true;
}
bool DoubleOption(Napi::Object o, const char* key, double& out) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue())) {
    Napi::TypeError::New(o.Env(), std::string("native option ") + key + " must be a finite number").ThrowAsJavaScriptException();
    return false;
  }
  out = v.As<Napi::Number>().DoubleValue();
  return true;
}
bool BoolOption(Napi::Object o, const char* key, bool& out) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) {
    Napi::TypeError::New(o.Env(), std::string("native option ") + key + " must be a boolean").ThrowAsJavaScriptException();
    return false;
  }
  out = v.As<Napi::Boolean>().Value();
  return true;
}
/** A string without NUL; empty allowed only when `allowEmpty`. */
bool StringOption(Napi::Object o, const char* key, bool allowEmpty, std::string& out) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) {
    Napi::TypeError::New(o.Env(), std::string("native option ") + key + " must be a string").ThrowAsJavaScriptException();
    return false;
  }
  out = v.As<Napi::String>().Utf8Value();
  if ((!allowEmpty && out.empty()) || out.find('\0') != std::string::npos) {
    Napi::TypeError::New(o.Env(), std::string("native option ") + key + " must be a non-empty string without NUL").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

class AudioEngineWrap : public Napi::ObjectWrap<AudioEngineWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "AudioEngine",
                       {InstanceMethod<&AudioEngineWrap::OpenStream>("openStream"),
                        InstanceMethod<&AudioEngineWrap::Stats>("stats"),
                        InstanceMethod<&AudioEngineWrap::Close>("close"),
                        InstanceMethod<&AudioEngineWrap::Ref>("ref"),
                        InstanceMethod<&AudioEngineWrap::Unref>("unref")});
  }

  // new AudioEngine({threads, statsIntervalMs, overlapMinMs, maxQueuedBatches, maxQueueBytes}, onEvents)
  // (argument checks with precise messages live in src/pipeline/engine.ts)
  explicit AudioEngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AudioEngineWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "new AudioEngine(options, onEvents)").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    EngineConfig c;
    int maxQueued = 0;
    if (!IntOption(o, "threads", 1, 16, c.threads) || !IntOption(o, "statsIntervalMs", 10, 60000, c.statsIntervalMs) ||
        !IntOption(o, "overlapMinMs", 10, 600000, c.overlapMinMs) || !IntOption(o, "maxQueuedBatches", 1, 1 << 20, maxQueued)) {
      return;
    }
    double maxQueueBytes = 0;
    if (!DoubleOption(o, "maxQueueBytes", maxQueueBytes)) return;
    if (!(maxQueueBytes >= static_cast<double>(kBlockBytes) && maxQueueBytes <= 1099511627776.0)) {
      Napi::RangeError::New(env, "native option maxQueueBytes must be in 16384..2^40").ThrowAsJavaScriptException();
      return;
    }
    c.maxQueueBytes = static_cast<uint64_t>(maxQueueBytes);
    const size_t maxQueue = static_cast<size_t>(maxQueued);
    tsfn_ = Tsfn::New(env, info[1].As<Napi::Function>(), "meetcore.audio.events", maxQueue, 1);
    tsfn_.Unref(env);
    Tsfn tsfn = tsfn_;
    engine_ = std::make_unique<Engine>(c, [tsfn](EventBatch& batch) mutable {
      auto* heap = new EventBatch(std::move(batch));
      if (tsfn.NonBlockingCall(heap) != napi_ok) {
        batch = std::move(*heap);  // the engine keeps its closed/error events for the next call
        delete heap;
        return false;
      }
      return true;
    });
    napi_add_env_cleanup_hook(env, &AudioEngineWrap::Cleanup, this);
  }

  ~AudioEngineWrap() override {
    napi_remove_env_cleanup_hook(Env(), &AudioEngineWrap::Cleanup, this);
    Shutdown();
  }

 private:
  static void Cleanup(void* self) { static_cast<AudioEngineWrap*>(self)->Shutdown(); }

  void Shutdown() {
    if (!engine_) return;
    engine_->stop();
    engine_.reset();
    tsfn_.Release();
  }

  Napi::Value OpenStream(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!engine_) {
      Napi::Error::New(env, "the audio engine is closed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    if (info.Length() < 1 || !info[0].IsObject()) {
      Napi::TypeError::New(env, "openStream(options)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Object o = info[0].As<Napi::Object>();
    StreamConfig c;
    int maxPushBytes = 0;
    if (!StringOption(o, "meetingId", false, c.meetingId) || !StringOption(o, "participantId", false, c.participantId) ||
        !IntOption(o, "sampleRate", 8000, 192000, c.sampleRate) || !IntOption(o, "channels", 1, 2, c.channels) ||
        !DoubleOption(o, "groupSeconds", c.groupSeconds) || !BoolOption(o, "segments", c.segments) ||
        !DoubleOption(o, "startedAtMs", c.startedAtMs) || !StringOption(o, "recordingPath", true, c.recordingPath) ||
        !IntOption(o, "maxQueueMs", 20, 3600000, c.maxQueueMs) || !BoolOption(o, "excluded", c.excluded) ||
        !IntOption(o, "maxPushBytes", 1, 64 << 20, maxPushBytes)) {
      return env.Undefined();
    }
    if (!(c.groupSeconds >= 0.5 && c.groupSeconds <= 5)) {
      Napi::RangeError::New(env, "native option groupSeconds must be in 0.5..5").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    std::shared_ptr<Stream> stream;
    try {
      stream = engine_->open(c);
    } catch (const std::exception& e) {
      Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return AudioStreamWrap::constructor->New({Napi::External<std::shared_ptr<Stream>>::New(env, &stream), Napi::Number::New(env, maxPushBytes)});
  }

  // While streams are open the JS wrapper refs the TSFN so their events (and `closed`) keep the loop alive.
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (engine_) tsfn_.Ref(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (engine_) tsfn_.Unref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("streams", engine_ ? static_cast<double>(engine_->streamCount()) : 0.0);
    o.Set("threads", engine_ ? engine_->config().threads : 0);
    o.Set("droppedBatches", engine_ ? static_cast<double>(engine_->droppedBatches()) : static_cast<double>(dropped_));
    o.Set("overflowBytes", engine_ ? static_cast<double>(engine_->overflowBytes()) : static_cast<double>(overflow_));
    o.Set("queuedBytes", engine_ ? static_cast<double>(engine_->queuedBytes()) : 0.0);
    o.Set("blocksInUse", engine_ ? static_cast<double>(engine_->blocksInUse()) : 0.0);
    o.Set("blocksFree", engine_ ? static_cast<double>(engine_->blocksFree()) : 0.0);
    o.Set("blockBytes", static_cast<double>(kBlockBytes));
    o.Set("streamsOverStreamBound", engine_ ? static_cast<double>(engine_->streamsOverStreamBound()) : static_cast<double>(overStream_));
    o.Set("streamsOverGlobalBound", engine_ ? static_cast<double>(engine_->streamsOverGlobalBound()) : static_cast<double>(overGlobal_));
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    if (!engine_) return out;
    EventBatch closed = engine_->stop();
    dropped_ = engine_->droppedBatches();
    overflow_ = engine_->overflowBytes();
    overStream_ = engine_->streamsOverStreamBound();
    overGlobal_ = engine_->streamsOverGlobalBound();
    for (size_t i = 0; i < closed.events.size(); i++) out.Set(static_cast<uint32_t>(i), EventObject(env, closed.events[i]));
    engine_.reset();
    tsfn_.Release();
    return out;
  }

  std::unique_ptr<Engine> engine_;
  Tsfn tsfn_;
  uint64_t dropped_ = 0;
  uint64_t overflow_ = 0;
  uint64_t overStream_ = 0;
  uint64_t overGlobal_ = 0;
};

// ------------------------------------------------------------------------------------------ testing helpers
// Exported as `exports.testing` (not part of the engine API): each checks its arguments and throws a
// TypeError/RangeError rather than reading garbage.

/** pcm (Uint8Array), sampleRate (8000..192000), channels (1|2): false (exception pending) when bad. */
bool PcmArgs(const Napi::CallbackInfo& info, size_t count, Napi::Uint8Array& pcm, int& sampleRate, int& channels) {
  Napi::Env env = info.Env();
  if (info.Length() != count || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    Napi::TypeError::New(env, "expected (pcm: Uint8Array, sampleRate, channels" + std::string(count == 4 ? ", iterations)" : ")")).ThrowAsJavaScriptException();
    return false;
  }
  for (size_t i = 1; i < count; i++) {
    if (!info[i].IsNumber()) {
      Napi::TypeError::New(env, "sampleRate, channels and iterations must be numbers").ThrowAsJavaScriptException();
      return false;
    }
  }
  pcm = info[0].As<Napi::Uint8Array>();
  sampleRate = info[1].As<Napi::Number>().Int32Value();
  channels = info[2].As<Napi::Number>().Int32Value();
  if (sampleRate < 8000 || sampleRate > 192000 || (channels != 1 && channels != 2)) {
    Napi::RangeError::New(env, "sampleRate must be in 8000..192000 and channels 1 or 2").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// benchAnalyze(pcm: Uint8Array, sampleRate, channels, iterations) → nanoseconds of pure analysis
// (levels + VAD + rolling stats, no ring, no file) on the calling thread, for bench/dsp.ts.
class NullSink : public AnalysisSink {
 public:
  void onFrame(const FrameResult& f) override { speech_ += f.speaking; }
  void onStats(const StatsSnapshot&) override {}
  void onSegment(uint32_t, double, double, std::vector<uint8_t>&&) override {}
  uint64_t speech_ = 0;
};

Napi::Value BenchAnalyze(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array ta;
  int sampleRate = 0, channels = 0;
  if (!PcmArgs(info, 4, ta, sampleRate, channels)) return env.Undefined();
  const int iterations = info[3].As<Napi::Number>().Int32Value();
  if (iterations < 1 || iterations > 100000) {
    Napi::RangeError::New(env, "iterations must be in 1..100000").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const size_t frames = ta.ByteLength() / (2 * static_cast<size_t>(channels));
  NullSink sink;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iterations; i++) {
    StreamAnalysis a(sampleRate, channels, 0, 2, false, 250);
    a.feed(reinterpret_cast<const int16_t*>(ta.Data()), frames, sink);
  }
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
  return Napi::Number::New(env, static_cast<double>(ns));
}

// analyzeFrames(pcm: Uint8Array, sampleRate, channels) → {speaking: Uint8Array, energyDbfs: Float32Array,
// noiseFloorDbfs: Float32Array}, one entry per 10 ms frame: the frame-level view of the analysis, for tests.
class FrameSink : public AnalysisSink {
 public:
  explicit FrameSink(const StreamAnalysis* a) : a_(a) {}
  void onFrame(const FrameResult& f) override {
    speaking.push_back(f.speaking);
    energy.push_back(static_cast<float>(f.energyDbfs));
    floor.push_back(static_cast<float>(a_->vad().noiseFloorDbfs()));
  }
  void onStats(const StatsSnapshot&) override {}
  void onSegment(uint32_t, double, double, std::vector<uint8_t>&&) override {}
  std::vector<uint8_t> speaking;
  std::vector<float> energy, floor;
  const StreamAnalysis* a_;
};

Napi::Value AnalyzeFrames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Uint8Array ta;
  int sampleRate = 0, channels = 0;
  if (!PcmArgs(info, 3, ta, sampleRate, channels)) return env.Undefined();
  StreamAnalysis a(sampleRate, channels, 0, 2, false, 250);
  FrameSink sink(&a);
  a.feed(reinterpret_cast<const int16_t*>(ta.Data()), ta.ByteLength() / (2 * static_cast<size_t>(channels)), sink);
  Napi::Object o = Napi::Object::New(env);
  auto sp = Napi::Uint8Array::New(env, sink.speaking.size());
  std::copy(sink.speaking.begin(), sink.speaking.end(), sp.Data());
  auto en = Napi::Float32Array::New(env, sink.energy.size());
  std::copy(sink.energy.begin(), sink.energy.end(), en.Data());
  auto fl = Napi::Float32Array::New(env, sink.floor.size());
  std::copy(sink.floor.begin(), sink.floor.end(), fl.Data());
  o.Set("speaking", sp);
  o.Set("energyDbfs", en);
  o.Set("noiseFloorDbfs", fl);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Napi::Function stream = AudioStreamWrap::Init(env);
  AudioStreamWrap::constructor = new Napi::FunctionReference(Napi::Persistent(stream));
  exports.Set("AudioStream", stream);
  exports.Set("AudioEngine", AudioEngineWrap::Init(env));
  exports.Set("statsFields", Napi::Function::New(env, StatsFields));
  Napi::Object testing = Napi::Object::New(env);
  testing.Set("analyzeFrames", Napi::Function::New(env, AnalyzeFrames));
  testing.Set("benchAnalyze", Napi::Function::New(env, BenchAnalyze));
  exports.Set("testing", testing);
  return exports;
}

}  // namespace
}  // namespace meetcore

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return meetcore::Init(env, exports); }

NODE_API_MODULE(meetcore_audio, InitModule)
