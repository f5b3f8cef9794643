// N-API glue (node-addon-api): the AudioEngine and AudioStream classes over core/engine.h.
// Rules (ARCHITECTURE.md): no napi_value off the JS thread; nothing throws across threads; one bounded
// thread-safe function per engine delivers event batches, unref'd so an idle engine never holds the process;
// an env cleanup hook stops the workers.
#include <napi.h>

#include <algorithm>
#include <chrono>

#include <memory>
#include <string>

#include "../core/engine.h"

namespace meetcore {
namespace {

using Batch = EventBatch;

void CallJs(Napi::Env env, Napi::Function callback, std::nullptr_t*, Batch* batch);
using Tsfn = Napi::TypedThreadSafeFunction<std::nullptr_t, Batch, CallJs>;

Napi::Value NumberOrNull(Napi::Env env, bool valid, double v) { return valid ? Napi::Number::New(env, v) : env.Null(); }

Napi::Object StatsObject(Napi::Env env, const Event& e) {
  const StatsSnapshot& s = e.stats;
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", "stats");
  o.Set("streamId", e.stream->id);
  o.Set("meetingId", e.stream->meetingId);
  o.Set("participantId", e.stream->participantId);
  o.Set("tMs", s.tMs);
  o.Set("speaking", s.speaking);
  o.Set("muted", s.muted);
  o.Set("rmsDbfs", NumberOrNull(env, s.samples > 0, s.rmsDbfs));
  o.Set("peakDbfs", NumberOrNull(env, s.samples > 0, s.peakDbfs));
  o.Set("clippedSamples", static_cast<double>(s.clippedSamples));
  o.Set("samples", static_cast<double>(s.samples));
  o.Set("speechCoverage10s", s.speechCoverage10s);
  o.Set("speechMs3s", s.speechMs3s);
  o.Set("rmsDbfs3s", NumberOrNull(env, s.speechMs3s > 0, s.rmsDbfs3s));
  o.Set("clippedRatio3s", s.clippedRatio3s);
  o.Set("rmsEmaDbfs", NumberOrNull(env, s.hasEma, s.rmsEmaDbfs));
  o.Set("noiseFloorDbfs", s.noiseFloorDbfs);
  o.Set("lastSpokeAtMs", NumberOrNull(env, s.lastSpokeAtMs >= 0, s.lastSpokeAtMs));
  o.Set("speechStartedAtMs", NumberOrNull(env, s.speechStartedAtMs >= 0, s.speechStartedAtMs));
  o.Set("overflowBytes", static_cast<double>(e.overflowBytes));
  o.Set("recordedBytes", static_cast<double>(e.recordedBytes));
  return o;
}

Napi::Object EventObject(Napi::Env env, Event& e) {
  if (e.type == Event::kStats) return StatsObject(env, e);
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
      break;
    case Event::kError:
      o.Set("type", "error");
      o.Set("streamId", e.stream->id);
      o.Set("meetingId", e.stream->meetingId);
      o.Set("code", e.code);
      o.Set("message", e.message);
      break;
    case Event::kStats:
      break;
  }
  return o;
}

void CallJs(Napi::Env env, Napi::Function callback, std::nullptr_t*, Batch* batch) {
  std::unique_ptr<Batch> owned(batch);
  if (env == nullptr || callback.IsEmpty()) return;  // finalizing: drop
  Napi::Array arr = Napi::Array::New(env, owned->size());
  for (size_t i = 0; i < owned->size(); i++) arr.Set(static_cast<uint32_t>(i), EventObject(env, (*owned)[i]));
  callback.Call({arr});
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
                        InstanceAccessor<&AudioStreamWrap::Id>("id")});
  }

  explicit AudioStreamWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AudioStreamWrap>(info) {
    if (info.Length() != 1 || !info[0].IsExternal()) {
      Napi::TypeError::New(info.Env(), "AudioStream is created by AudioEngine.openStream").ThrowAsJavaScriptException();
      return;
    }
    stream_ = *info[0].As<Napi::External<std::shared_ptr<Stream>>>().Data();
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
    if (!stream_->push(data, n)) Napi::Error::New(env, "push on a closed AudioStream").ThrowAsJavaScriptException();
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

  std::shared_ptr<Stream> stream_;
};

Napi::FunctionReference* AudioStreamWrap::constructor = nullptr;

// ------------------------------------------------------------------------------------------ AudioEngine

int IntOption(Napi::Object o, const char* key, int fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}
double DoubleOption(Napi::Object o, const char* key, double fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}
std::string StringOption(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
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

  // new AudioEngine({threads, statsIntervalMs, overlapMinMs, maxQueuedBatches}, onEvents)
  // (argument checks with precise messages live in src/pipeline/engine.ts)
  explicit AudioEngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AudioEngineWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "new AudioEngine(options, onEvents)").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    EngineConfig c;
    c.threads = IntOption(o, "threads", 2);
    c.statsIntervalMs = IntOption(o, "statsIntervalMs", 250);
    c.overlapMinMs = IntOption(o, "overlapMinMs", 500);
    const size_t maxQueue = static_cast<size_t>(IntOption(o, "maxQueuedBatches", 1024));
    tsfn_ = Tsfn::New(env, info[1].As<Napi::Function>(), "meetcore.audio.events", maxQueue, 1);
    tsfn_.Unref(env);
    Tsfn tsfn = tsfn_;
    engine_ = std::make_unique<Engine>(c, [tsfn](EventBatch&& batch) mutable {
      auto* heap = new EventBatch(std::move(batch));
      if (tsfn.NonBlockingCall(heap) != napi_ok) {
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
    c.meetingId = StringOption(o, "meetingId");
    c.participantId = StringOption(o, "participantId");
    c.sampleRate = IntOption(o, "sampleRate", 48000);
    c.channels = IntOption(o, "channels", 2);
    c.groupSeconds = DoubleOption(o, "groupSeconds", 2);
    c.segments = o.Get("segments").ToBoolean().Value();
    c.startedAtMs = DoubleOption(o, "startedAtMs", 0);
    c.recordingPath = StringOption(o, "recordingPath");
    c.ringSeconds = DoubleOption(o, "ringSeconds", 10);
    c.excluded = o.Get("excluded").ToBoolean().Value();
    std::shared_ptr<Stream> stream;
    try {
      stream = engine_->open(c);
    } catch (const std::exception& e) {
      Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return AudioStreamWrap::constructor->New({Napi::External<std::shared_ptr<Stream>>::New(env, &stream)});
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
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    if (!engine_) return out;
    EventBatch closed = engine_->stop();
    dropped_ = engine_->droppedBatches();
    for (size_t i = 0; i < closed.size(); i++) out.Set(static_cast<uint32_t>(i), EventObject(env, closed[i]));
    engine_.reset();
    tsfn_.Release();
    return out;
  }

  std::unique_ptr<Engine> engine_;
  Tsfn tsfn_;
  uint64_t dropped_ = 0;
};

// ------------------------------------------------------------------------------------------ bench helper

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
  auto ta = info[0].As<Napi::Uint8Array>();
  const int sampleRate = info[1].As<Napi::Number>().Int32Value();
  const int channels = info[2].As<Napi::Number>().Int32Value();
  const int iterations = info[3].As<Napi::Number>().Int32Value();
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
  auto ta = info[0].As<Napi::Uint8Array>();
  const int sampleRate = info[1].As<Napi::Number>().Int32Value();
  const int channels = info[2].As<Napi::Number>().Int32Value();
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
  exports.Set("analyzeFrames", Napi::Function::New(env, AnalyzeFrames));
  Napi::Function stream = AudioStreamWrap::Init(env);
  AudioStreamWrap::constructor = new Napi::FunctionReference(Napi::Persistent(stream));
  exports.Set("AudioStream", stream);
  exports.Set("AudioEngine", AudioEngineWrap::Init(env));
  exports.Set("benchAnalyze", Napi::Function::New(env, BenchAnalyze));
  return exports;
}

}  // namespace
}  // namespace meetcore

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return meetcore::Init(env, exports); }

NODE_API_MODULE(meetcore_audio, InitModule)
