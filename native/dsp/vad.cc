#include "vad.h"

namespace meetcore {

bool Vad::process(double e) {
  if (!initialized_) {
    floor_ = e;
    initialized_ = true;
  }
  if (e < floor_) {
    floor_ = e;
  } else {
    floor_ += voiced_ ? kRiseInSpeechDbPerFrame : kRiseDbPerFrame;
    if (floor_ > e) floor_ = e;
  }
  peak_ = e > peak_ - kPeakDecayDbPerFrame ? e : peak_ - kPeakDecayDbPerFrame;
  voiced_ = e >= floor_ + kThresholdDb && e >= kAbsoluteMinDbfs && e >= peak_ - kBelowPeakDb;

  if (voiced_) {
    if (steadyRun_ == 0) {
      runMin_ = runMax_ = e;
      runSum_ = 0;
    }
    if (e < runMin_) runMin_ = e;
    if (e > runMax_) runMax_ = e;
    runSum_ += e;
    if (++steadyRun_ >= kSteadyFrames) {
      if (runMax_ - runMin_ < kSteadyRangeDb) {
        floor_ = runSum_ / steadyRun_;  // stationary: this is the new background, not a voice
        voiced_ = false;
      }
      steadyRun_ = 0;
    }
  } else {
    steadyRun_ = 0;
  }

  return voiced_;
}

void SpeechSmoother::push(bool voiced) {
  flags_[(head_ + count_) % kSize] = voiced;
  count_++;
}

bool SpeechSmoother::pop(bool& speech) {
  if (count_ == 0 || !oldestFinal()) return false;
  speech = decideOldest();
  return true;
}

bool SpeechSmoother::oldestFinal() const {
  if (count_ == kSize) return true;  // the full lookahead is known (never reached: decided earlier, see below)
  if (flags_[head_]) return prevVoiced_ || count_ > 1;  // a click unless the previous or the next is voiced
  if (sinceVoiced_ > kBridgeFrames) return true;        // no voiced frame close enough before it: silence
  for (int i = 1; i < count_; i++) {
    if (flags_[(head_ + i) % kSize]) return true;  // the gap's length is known
  }
  // The gap holding it is already at least sinceVoiced_ + count_ - 1 frames long: too long to bridge.
  return sinceVoiced_ + count_ - 1 >= kBridgeFrames;
}

bool SpeechSmoother::drain(bool& speech) {
  if (count_ == 0) return false;
  speech = decideOldest();
  return true;
}

bool SpeechSmoother::decideOldest() {
  const bool v = flags_[head_];
  const bool next = count_ > 1 && flags_[(head_ + 1) % kSize];
  bool speech;
  if (v) {
    speech = prevVoiced_ || next;  // an isolated voiced frame is a click, not speech
  } else {
    int ahead = 0;  // distance to the next voiced frame within the lookahead
    for (int i = 1; i < count_; i++) {
      if (flags_[(head_ + i) % kSize]) {
        ahead = i;
        break;
      }
    }
    speech = ahead > 0 && sinceVoiced_ + ahead - 1 < kBridgeFrames && sinceVoiced_ <= kBridgeFrames;
  }
  sinceVoiced_ = v ? 1 : sinceVoiced_ + 1;
  prevVoiced_ = v;
  head_ = (head_ + 1) % kSize;
  count_--;
  return speech;
}

}  // namespace meetcore
