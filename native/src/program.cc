// The prefilter form of a program's first constraint (no JS here, so the scan
// core builds and runs without Node).
#include "program.h"

namespace kcarve {

namespace {
uint64_t maxOf(uint32_t width) { return width == 8 ? ~0ull : (1ull << (8 * width)) - 1; }
}  // namespace

Prefilter makePrefilter(const Constraint& k) {
  Prefilter pf;
  pf.offset = k.offset;
  pf.width = k.span;
  const uint64_t all = maxOf(k.kind == Kind::String ? 8 : k.span);
  switch (k.kind) {
    case Kind::Eq: pf.op = PrefilterOp::MaskEq, pf.mask = all, pf.value = k.a; break;
    case Kind::Ne: pf.op = PrefilterOp::MaskNe, pf.mask = all, pf.value = k.a; break;
    case Kind::Mask: pf.op = PrefilterOp::MaskEq, pf.mask = k.a, pf.value = k.b; break;
    case Kind::Aligned: pf.op = PrefilterOp::MaskEq, pf.mask = k.a, pf.value = 0; break;
    case Kind::Range: pf.op = PrefilterOp::Range, pf.lo = k.a, pf.span = k.b - k.a; break;
    case Kind::Kptr: pf.op = PrefilterOp::Range, pf.lo = k.a, pf.span = all - k.a; break;
    case Kind::KptrOrNull: pf.op = PrefilterOp::RangeOrZero, pf.lo = k.a, pf.span = all - k.a; break;
    default: pf.op = PrefilterOp::Generic; break;
  }
  return pf;
}

}  // namespace kcarve
