// A compiled constraint program: plain C++ data built once from the JS object
// (see src/signatures/program.ts for the semantics) and never touching JS again.
// The limits below are mirrored in src/signatures/validate.ts; keep them in step.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace kcarve {

constexpr uint32_t kMaxAlignment = 4096;
constexpr uint32_t kMaxConstraints = 256;
constexpr uint32_t kMaxSetValues = 64;
constexpr uint32_t kMaxProgramSpan = 1u << 20;  // 1 MiB from the candidate's start
constexpr uint32_t kMaxStringLength = 4096;

// Lowest kernel-half address per pointer mode (src/signatures/program.ts):
// x86-64 4-level: bits 63..47 set; 5-level: bits 63..56 set; 32-bit: 0x80000000.
constexpr uint64_t kKernelBase4 = 0xffff800000000000ull;
constexpr uint64_t kKernelBase5 = 0xff00000000000000ull;
constexpr uint64_t kKernelBase32 = 0x80000000ull;

enum class Kind : uint8_t { Eq, Ne, Mask, Range, Set, Aligned, Kptr, KptrOrNull, String };

struct Constraint {
  Kind kind = Kind::Eq;
  uint32_t offset = 0;
  uint32_t span = 0;   // bytes read from offset: the width, or maxLength for strings
  uint64_t a = 0;      // eq/ne: value; mask: mask; range: min; aligned: alignment-1; kptr: kernel base
  uint64_t b = 0;      // mask: value; range: max
  uint32_t minLength = 0;  // string
  std::vector<uint64_t> values;  // set
};

// The prefilter (constraints[0]) reduced to one of a few vector-friendly tests.
enum class PrefilterOp : uint8_t {
  MaskEq,       // (v & mask) == value     (eq, mask, aligned)
  MaskNe,       // (v & mask) != value     (ne)
  Range,        // v - lo <= span unsigned (range, kptr)
  RangeOrZero,  // v == 0 || v - lo <= span (kptr_or_null)
  Generic,      // anything else: evaluate constraints[0] as a constraint
};

struct Prefilter {
  PrefilterOp op = PrefilterOp::Generic;
  uint32_t offset = 0;
  uint32_t width = 0;
  uint64_t mask = 0, value = 0;  // MaskEq / MaskNe
  uint64_t lo = 0, span = 0;     // Range / RangeOrZero
};

struct Program {
  std::string source;  // names the signature in error messages
  uint32_t alignment = 1;
  uint32_t span = 0;   // programSpan(): furthest byte any constraint reads
  std::vector<Constraint> constraints;
  Prefilter prefilter;
};

// Derives the prefilter form of constraints[0]; called once after validation.
Prefilter makePrefilter(const Constraint& first);

// Reads a little-endian field of 1, 2, 4 or 8 bytes (the host is x86-64).
inline uint64_t loadField(const uint8_t* p, uint32_t width) {
  switch (width) {
    case 1: return p[0];
    case 2: { uint16_t v; std::memcpy(&v, p, 2); return v; }
    case 4: { uint32_t v; std::memcpy(&v, p, 4); return v; }
    default: { uint64_t v; std::memcpy(&v, p, 8); return v; }
  }
}

// Does constraint k hold for a candidate starting at cand, with avail readable
// bytes from cand (limit - candidate)? A field that does not fit makes it false.
inline bool holds(const Constraint& k, const uint8_t* cand, uint64_t avail) {
  if (uint64_t(k.offset) + k.span > avail) return false;
  const uint8_t* p = cand + k.offset;
  if (k.kind == Kind::String) {
    for (uint32_t i = 0; i < k.span; i++) {
      uint8_t ch = p[i];
      if (ch == 0) return i >= k.minLength;
      if (ch < 0x20 || ch > 0x7e) return false;
    }
    return false;  // no NUL inside maxLength bytes
  }
  uint64_t v = loadField(p, k.span);
  switch (k.kind) {
    case Kind::Eq: return v == k.a;
    case Kind::Ne: return v != k.a;
    case Kind::Mask: return (v & k.a) == k.b;
    case Kind::Range: return v >= k.a && v <= k.b;
    case Kind::Set:
      for (uint64_t x : k.values) if (x == v) return true;
      return false;
    case Kind::Aligned: return (v & k.a) == 0;
    case Kind::Kptr: return v >= k.a;
    case Kind::KptrOrNull: return v == 0 || v >= k.a;
    default: return false;
  }
}

}  // namespace kcarve
