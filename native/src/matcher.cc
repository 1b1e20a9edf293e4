// Scalar scan loop and the dispatch to the AVX2 prefilter pass.
#include "matcher.h"

namespace kcarve {

CandidateRange candidatesOf(const Window& w, uint32_t alignment) {
  // Candidates c satisfy (c - start + phase) % alignment == 0 (program.ts).
  const uint64_t a = alignment;
  const uint64_t first = w.start + (a - w.phase % a) % a;
  CandidateRange r;
  r.c0 = first;
  r.count = first < w.end ? (w.end - first + a - 1) / a : 0;
  return r;
}

namespace {

template <PrefilterOp OP>
inline bool prefilterHolds(const Prefilter& pf, uint64_t v) {
  if constexpr (OP == PrefilterOp::MaskEq) return (v & pf.mask) == pf.value;
  if constexpr (OP == PrefilterOp::MaskNe) return (v & pf.mask) != pf.value;
  if constexpr (OP == PrefilterOp::Range) return v - pf.lo <= pf.span;
  if constexpr (OP == PrefilterOp::RangeOrZero) return v == 0 || v - pf.lo <= pf.span;
  return false;
}

// Candidates [from, count) one at a time. The prefilter field of candidate k
// ends at c0 + k*a + offset + width, which grows with k: once it passes the
// limit every later candidate fails too.
template <PrefilterOp OP>
PassResult scalarPass(const uint8_t* base, const Program& p, CandidateRange r, uint64_t from,
                      uint64_t limit, HitSink& sink) {
  const Prefilter& pf = p.prefilter;
  const Constraint& first = p.constraints[0];
  const uint64_t a = p.alignment;
  for (uint64_t k = from; k < r.count; k++) {
    const uint64_t c = r.c0 + k * a;
    bool pass;
    if constexpr (OP == PrefilterOp::Generic) {
      pass = holds(first, base + c, limit - c);
    } else {
      if (c + pf.offset + pf.width > limit) break;
      pass = prefilterHolds<OP>(pf, loadField(base + c + pf.offset, pf.width));
    }
    if (pass && !sink.offer(c)) return {k, true};
  }
  return {r.count, false};
}

PassResult scalarDispatch(const uint8_t* base, const Program& p, CandidateRange r, uint64_t from,
                          uint64_t limit, HitSink& sink) {
  switch (p.prefilter.op) {
    case PrefilterOp::MaskEq: return scalarPass<PrefilterOp::MaskEq>(base, p, r, from, limit, sink);
    case PrefilterOp::MaskNe: return scalarPass<PrefilterOp::MaskNe>(base, p, r, from, limit, sink);
    case PrefilterOp::Range: return scalarPass<PrefilterOp::Range>(base, p, r, from, limit, sink);
    case PrefilterOp::RangeOrZero:
      return scalarPass<PrefilterOp::RangeOrZero>(base, p, r, from, limit, sink);
    default: return scalarPass<PrefilterOp::Generic>(base, p, r, from, limit, sink);
  }
}

}  // namespace

ScanStatus scanRange(const uint8_t* base, const Program& program, const Window& w, bool simd,
                     uint64_t maxHits, std::vector<double>& out) {
  const CandidateRange r = candidatesOf(w, program.alignment);
  HitSink sink(program, base, w.limit, maxHits, out);
  uint64_t from = 0;
  if (simd && r.count > 0 && avx2Usable(program) && cpuHasAvx2()) {
    PassResult v = prefilterAvx2(base, program, r, w.limit, sink);
    if (v.stopped) return ScanStatus::TooManyHits;
    from = v.done;
  }
  PassResult s = scalarDispatch(base, program, r, from, w.limit, sink);
  return s.stopped ? ScanStatus::TooManyHits : ScanStatus::Ok;
}

uint64_t sumU64Scalar(const uint8_t* base, uint64_t start, uint64_t end) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  uint64_t off = start;
  for (; off + 32 <= end; off += 32) {
    s0 += loadField(base + off, 8);
    s1 += loadField(base + off + 8, 8);
    s2 += loadField(base + off + 16, 8);
    s3 += loadField(base + off + 24, 8);
  }
  for (; off + 8 <= end; off += 8) s0 += loadField(base + off, 8);
  return s0 + s1 + s2 + s3;
}

uint64_t sumU64(const uint8_t* base, uint64_t start, uint64_t end, bool simd) {
  return simd && cpuHasAvx2() ? sumU64Avx2(base, start, end) : sumU64Scalar(base, start, end);
}

}  // namespace kcarve
