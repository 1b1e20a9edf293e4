// The scan loop: pure C++ over a byte range, no JS. The caller validates the
// window against the memory it passes; this code trusts base[0, limit).
#pragma once

#include <cstdint>
#include <vector>

#include "program.h"

namespace kcarve {

struct Window {
  uint64_t start = 0, end = 0, limit = 0, phase = 0;
};

// Collects candidates that pass the prefilter: checks the remaining
// constraints and appends the matches in ascending order, up to maxHits.
class HitSink {
 public:
  HitSink(const Program& program, const uint8_t* base, uint64_t limit, uint64_t maxHits,
          std::vector<double>& out)
      : program_(program), base_(base), limit_(limit), maxHits_(maxHits), out_(out) {}

  // Returns false when a match would exceed maxHits (the scan stops).
  bool offer(uint64_t candidate) {
    const uint8_t* cand = base_ + candidate;
    const uint64_t avail = limit_ - candidate;
    const auto& cs = program_.constraints;
    for (size_t i = 1; i < cs.size(); i++) {
      if (!holds(cs[i], cand, avail)) return true;
    }
    if (out_.size() >= maxHits_) return false;
    out_.push_back(double(candidate));
    return true;
  }

 private:
  const Program& program_;
  const uint8_t* base_;
  uint64_t limit_;
  uint64_t maxHits_;
  std::vector<double>& out_;
};

// Candidate k of a window is c0 + k * alignment, k < count.
struct CandidateRange {
  uint64_t c0 = 0;
  uint64_t count = 0;
};
CandidateRange candidatesOf(const Window& w, uint32_t alignment);

// Where a vector pass stopped: candidates [0, done) are handled; stopped means
// maxHits was exceeded.
struct PassResult {
  uint64_t done = 0;
  bool stopped = false;
};

// The AVX2 prefilter pass (prefilter_avx2.cc). Handles a prefix of the
// candidates; the caller finishes the rest with the scalar pass. Only call it
// when avx2Usable(program) and the CPU supports AVX2.
bool avx2Usable(const Program& program);
PassResult prefilterAvx2(const uint8_t* base, const Program& program, CandidateRange range,
                         uint64_t limit, HitSink& sink);
bool cpuHasAvx2();

enum class ScanStatus { Ok, TooManyHits };

// Appends to out the candidates of window w (over base[0, w.limit)) where every
// constraint holds, ascending. simd=false forces the scalar pass.
ScanStatus scanRange(const uint8_t* base, const Program& program, const Window& w, bool simd,
                     uint64_t maxHits, std::vector<double>& out);

// Sum of the little-endian u64 words at start, start+8, ... that end by end
// (mod 2^64): the memory-bandwidth baseline of bench/throughput.
uint64_t sumU64(const uint8_t* base, uint64_t start, uint64_t end, bool simd);
uint64_t sumU64Scalar(const uint8_t* base, uint64_t start, uint64_t end);
uint64_t sumU64Avx2(const uint8_t* base, uint64_t start, uint64_t end);

}  // namespace kcarve
