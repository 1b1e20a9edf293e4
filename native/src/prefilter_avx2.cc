// The AVX2 prefilter pass. Only the functions marked target("avx2") use AVX2,
// so the addon builds without -mavx2 and runs on any x86-64; scanRange calls
// this pass only after __builtin_cpu_supports("avx2") said yes.
//
// Two shapes, both for a u32 or u64 prefilter field and alignment >= width:
// - alignment <= 32: one unaligned 32-byte load holds the fields of 32/alignment
//   consecutive candidates (lanes alignment/width apart); the other lanes are
//   masked off. Four loads (two cache lines) per step, one branch per step.
// - alignment > 32: the fields of 4 (u64) or 8 (u32) candidates are loaded one
//   by one into a vector and tested together. (A vpgather was measured at
//   under half the speed of this on the AMD EPYC the bench ran on.)
#include <immintrin.h>

#include <algorithm>

#include "matcher.h"

namespace kcarve {

bool cpuHasAvx2() {
  // __builtin_cpu_supports reads data libgcc fills in before main; no state of ours.
  return __builtin_cpu_supports("avx2");
}

bool avx2Usable(const Program& p) {
  const Prefilter& pf = p.prefilter;
  return pf.op != PrefilterOp::Generic && (pf.width == 4 || pf.width == 8) &&
         p.alignment >= pf.width;
}

namespace {

// Per-lane test, returning one bit per lane (movemask).
template <PrefilterOp OP, unsigned W>
struct Test {
  __m256i mask, value, lo, spanFlipped, sign;

  __attribute__((target("avx2"))) explicit Test(const Prefilter& pf) {
    if constexpr (W == 8) {
      mask = _mm256_set1_epi64x(static_cast<long long>(pf.mask));
      value = _mm256_set1_epi64x(static_cast<long long>(pf.value));
      lo = _mm256_set1_epi64x(static_cast<long long>(pf.lo));
      sign = _mm256_set1_epi64x(static_cast<long long>(0x8000000000000000ull));
      spanFlipped = _mm256_xor_si256(_mm256_set1_epi64x(static_cast<long long>(pf.span)), sign);
    } else {
      mask = _mm256_set1_epi32(static_cast<int>(pf.mask));
      value = _mm256_set1_epi32(static_cast<int>(pf.value));
      lo = _mm256_set1_epi32(static_cast<int>(pf.lo));
      sign = _mm256_set1_epi32(static_cast<int>(0x80000000u));
      spanFlipped = _mm256_xor_si256(_mm256_set1_epi32(static_cast<int>(pf.span)), sign);
    }
  }

  __attribute__((target("avx2"))) static unsigned bits(__m256i m) {
    if constexpr (W == 8) return unsigned(_mm256_movemask_pd(_mm256_castsi256_pd(m)));
    return unsigned(_mm256_movemask_ps(_mm256_castsi256_ps(m)));
  }
  __attribute__((target("avx2"))) static __m256i eq(__m256i a, __m256i b) {
    if constexpr (W == 8) return _mm256_cmpeq_epi64(a, b);
    return _mm256_cmpeq_epi32(a, b);
  }
  // Unsigned a > b via the signed compare on sign-flipped operands.
  __attribute__((target("avx2"))) __m256i gtFlipped(__m256i aFlipped, __m256i bFlipped) const {
    if constexpr (W == 8) return _mm256_cmpgt_epi64(aFlipped, bFlipped);
    return _mm256_cmpgt_epi32(aFlipped, bFlipped);
  }
  __attribute__((target("avx2"))) __m256i sub(__m256i a, __m256i b) const {
    if constexpr (W == 8) return _mm256_sub_epi64(a, b);
    return _mm256_sub_epi32(a, b);
  }

  static constexpr unsigned kAll = W == 8 ? 0xfu : 0xffu;

  __attribute__((target("avx2"))) unsigned operator()(__m256i v) const {
    if constexpr (OP == PrefilterOp::MaskEq) {
      return bits(eq(_mm256_and_si256(v, mask), value));
    } else if constexpr (OP == PrefilterOp::MaskNe) {
      return ~bits(eq(_mm256_and_si256(v, mask), value)) & kAll;
    } else {
      // v - lo <= span (unsigned)  <=>  !((v - lo) > span)
      const __m256i d = _mm256_xor_si256(sub(v, lo), sign);
      unsigned in = ~bits(gtFlipped(d, spanFlipped)) & kAll;
      if constexpr (OP == PrefilterOp::RangeOrZero) in |= bits(eq(v, _mm256_setzero_si256()));
      return in;
    }
  }
};

// alignment <= 32: contiguous loads. Vector i covers candidates
// [i*per, (i+1)*per) with per = 32/alignment; lane j is candidate c0 + i*32 + j*W.
template <PrefilterOp OP, unsigned W>
__attribute__((target("avx2"))) PassResult densePass(const uint8_t* base, const Program& p,
                                                     CandidateRange r, uint64_t limit,
                                                     HitSink& sink) {
  const Prefilter& pf = p.prefilter;
  const Test<OP, W> test(pf);
  const uint64_t a = p.alignment;
  const uint64_t per = 32 / a;
  const uint64_t fieldStart = r.c0 + pf.offset;
  // Every byte a vector loads must lie below the limit, and every candidate it
  // covers must be one of the window's.
  const uint64_t byLimit = limit >= fieldStart ? (limit - fieldStart) / 32 : 0;
  const uint64_t nvec = std::min(r.count / per, byLimit);
  // Lanes that start a candidate: every (a/W)-th lane.
  unsigned select = 0;
  for (unsigned lane = 0; lane < 32 / W; lane += unsigned(a / W)) select |= 1u << lane;
  const uint8_t* f = base + fieldStart;

  auto emit = [&](uint64_t vec, unsigned m) -> bool {
    while (m != 0) {
      const unsigned lane = unsigned(__builtin_ctz(m));
      m &= m - 1;
      if (!sink.offer(r.c0 + vec * 32 + uint64_t(lane) * W)) return false;
    }
    return true;
  };

  uint64_t i = 0;
  for (; i + 4 <= nvec; i += 4) {
    const uint8_t* q = f + i * 32;
    const unsigned m0 = test(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q))) & select;
    const unsigned m1 = test(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32))) & select;
    const unsigned m2 = test(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 64))) & select;
    const unsigned m3 = test(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 96))) & select;
    if ((m0 | m1 | m2 | m3) == 0) continue;
    if (!emit(i, m0)) return {(i + 1) * per, true};
    if (!emit(i + 1, m1)) return {(i + 2) * per, true};
    if (!emit(i + 2, m2)) return {(i + 3) * per, true};
    if (!emit(i + 3, m3)) return {(i + 4) * per, true};
  }
  for (; i < nvec; i++) {
    const unsigned m = test(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(f + i * 32))) & select;
    if (!emit(i, m)) return {(i + 1) * per, true};
  }
  return {nvec * per, false};
}

// alignment > 32: load the fields of L = 32/W candidates into one vector.
template <PrefilterOp OP, unsigned W>
__attribute__((target("avx2"))) PassResult stridedPass(const uint8_t* base, const Program& p,
                                                      CandidateRange r, uint64_t limit,
                                                      HitSink& sink) {
  const Prefilter& pf = p.prefilter;
  const Test<OP, W> test(pf);
  const uint64_t a = p.alignment;
  constexpr uint64_t L = 32 / W;
  const uint64_t fieldStart = r.c0 + pf.offset;
  // Candidates whose field fits below the limit: k with fieldStart + k*a + W <= limit.
  const uint64_t fit = limit >= fieldStart + W ? (limit - fieldStart - W) / a + 1 : 0;
  const uint64_t ngroups = std::min(r.count, fit) / L;
  const uint8_t* f = base + fieldStart;
  for (uint64_t g = 0; g < ngroups; g++) {
    const uint8_t* q = f + g * L * a;
    __m256i v;
    if constexpr (W == 8) {
      v = _mm256_setr_epi64x(static_cast<long long>(loadField(q, 8)), static_cast<long long>(loadField(q + a, 8)),
                             static_cast<long long>(loadField(q + 2 * a, 8)), static_cast<long long>(loadField(q + 3 * a, 8)));
    } else {
      v = _mm256_setr_epi32(int(loadField(q, 4)), int(loadField(q + a, 4)), int(loadField(q + 2 * a, 4)),
                            int(loadField(q + 3 * a, 4)), int(loadField(q + 4 * a, 4)), int(loadField(q + 5 * a, 4)),
                            int(loadField(q + 6 * a, 4)), int(loadField(q + 7 * a, 4)));
    }
    unsigned m = test(v);
    while (m != 0) {
      const unsigned lane = unsigned(__builtin_ctz(m));
      m &= m - 1;
      if (!sink.offer(r.c0 + (g * L + lane) * a)) return {(g + 1) * L, true};
    }
  }
  return {ngroups * L, false};
}

template <unsigned W>
PassResult byOp(const uint8_t* base, const Program& p, CandidateRange r, uint64_t limit,
                HitSink& sink) {
  const bool dense = p.alignment <= 32;
  switch (p.prefilter.op) {
    case PrefilterOp::MaskEq:
      return dense ? densePass<PrefilterOp::MaskEq, W>(base, p, r, limit, sink)
                   : stridedPass<PrefilterOp::MaskEq, W>(base, p, r, limit, sink);
    case PrefilterOp::MaskNe:
      return dense ? densePass<PrefilterOp::MaskNe, W>(base, p, r, limit, sink)
                   : stridedPass<PrefilterOp::MaskNe, W>(base, p, r, limit, sink);
    case PrefilterOp::Range:
      return dense ? densePass<PrefilterOp::Range, W>(base, p, r, limit, sink)
                   : stridedPass<PrefilterOp::Range, W>(base, p, r, limit, sink);
    case PrefilterOp::RangeOrZero:
      return dense ? densePass<PrefilterOp::RangeOrZero, W>(base, p, r, limit, sink)
                   : stridedPass<PrefilterOp::RangeOrZero, W>(base, p, r, limit, sink);
    default:
      return {0, false};
  }
}

}  // namespace

PassResult prefilterAvx2(const uint8_t* base, const Program& p, CandidateRange r, uint64_t limit,
                         HitSink& sink) {
  return p.prefilter.width == 8 ? byOp<8>(base, p, r, limit, sink) : byOp<4>(base, p, r, limit, sink);
}

__attribute__((target("avx2"))) uint64_t sumU64Avx2(const uint8_t* base, uint64_t start,
                                                    uint64_t end) {
  __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
  uint64_t off = start;
  for (; off + 128 <= end; off += 128) {
    const uint8_t* q = base + off;
    s0 = _mm256_add_epi64(s0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)));
    s1 = _mm256_add_epi64(s1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32)));
    s2 = _mm256_add_epi64(s2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 64)));
    s3 = _mm256_add_epi64(s3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 96)));
  }
  const __m256i s = _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3] + sumU64Scalar(base, off, end);
}

}  // namespace kcarve
