// compileProgram(): turns the JS program object into a kcarve::Program, with
// exactly the checks and messages of validateProgram() in
// src/signatures/validate.ts (a test compares them case by case). After this
// the scan never touches a JS value.
#include "compile_program.h"

#include <algorithm>

namespace kcarve {

namespace {

struct Ctx {
  Napi::Env env;
  const std::string& source;
  [[noreturn]] void fail(const std::string& field, const std::string& reason) const {
    throwSignature(env, source, field, reason);
  }
};

bool isPlainObject(const Napi::Value& v) { return v.Type() == napi_object; }

int64_t integerIn(const Ctx& ctx, const Napi::Object& o, const char* key, const std::string& path,
                  int64_t lo, int64_t hi) {
  Napi::Value v = o.Get(key);
  auto i = safeInteger(v);
  if (!i || *i < lo || *i > hi) {
    ctx.fail(path + "." + key, "must be an integer from " + std::to_string(lo) + " to " +
                                   std::to_string(hi) + " (got " + describe(v) + ")");
  }
  return *i;
}

uint32_t widthOf(const Ctx& ctx, const Napi::Object& o, const std::string& path) {
  Napi::Value v = o.Get("width");
  auto i = safeInteger(v);
  if (!i || (*i != 1 && *i != 2 && *i != 4 && *i != 8)) {
    ctx.fail(path + ".width", "must be 1, 2, 4 or 8 (got " + describe(v) + ")");
  }
  return uint32_t(*i);
}

uint64_t maxOf(uint32_t width) { return width == 8 ? ~0ull : (1ull << (8 * width)) - 1; }

uint64_t fieldValue(const Ctx& ctx, const Napi::Value& v, const std::string& field, uint32_t width) {
  if (!v.IsBigInt()) ctx.fail(field, "must be a bigint (got " + describe(v) + ")");
  bool lossless = false;
  const uint64_t x = v.As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless || x > maxOf(width)) {
    ctx.fail(field, "must fit in an unsigned " + std::to_string(8 * width) + "-bit field (0 to " +
                        hex(maxOf(width)) + ")");
  }
  return x;
}

uint64_t fieldValue(const Ctx& ctx, const Napi::Object& o, const char* key, const std::string& path,
                    uint32_t width) {
  return fieldValue(ctx, o.Get(key), path + "." + key, width);
}

struct KindName {
  const char* name;
  Kind kind;
};
constexpr KindName kKinds[] = {{"eq", Kind::Eq},         {"ne", Kind::Ne},
                               {"mask", Kind::Mask},     {"range", Kind::Range},
                               {"set", Kind::Set},       {"aligned", Kind::Aligned},
                               {"kptr", Kind::Kptr},     {"kptr_or_null", Kind::KptrOrNull},
                               {"string", Kind::String}};

Constraint compileConstraint(const Ctx& ctx, const Napi::Value& value, const std::string& path) {
  if (!isPlainObject(value)) ctx.fail(path, "must be an object (got " + describe(value) + ")");
  const Napi::Object o = value.As<Napi::Object>();
  Constraint k;

  const Napi::Value kindValue = o.Get("kind");
  bool known = false;
  if (kindValue.IsString()) {
    const std::string name = kindValue.As<Napi::String>().Utf8Value();
    for (const auto& kn : kKinds) {
      if (name == kn.name) {
        k.kind = kn.kind;
        known = true;
      }
    }
  }
  if (!known) {
    ctx.fail(path + ".kind",
             "must be one of eq, ne, mask, range, set, aligned, kptr, kptr_or_null, string (got " +
                 describe(kindValue) + ")");
  }
  k.offset = uint32_t(integerIn(ctx, o, "offset", path, 0, kMaxProgramSpan - 1));

  switch (k.kind) {
    case Kind::Eq:
    case Kind::Ne:
      k.span = widthOf(ctx, o, path);
      k.a = fieldValue(ctx, o, "value", path, k.span);
      break;
    case Kind::Mask:
      k.span = widthOf(ctx, o, path);
      k.a = fieldValue(ctx, o, "mask", path, k.span);
      k.b = fieldValue(ctx, o, "value", path, k.span);
      if ((k.b & ~k.a) != 0) ctx.fail(path + ".value", "has bits outside mask, so the constraint can never hold");
      break;
    case Kind::Range:
      k.span = widthOf(ctx, o, path);
      k.a = fieldValue(ctx, o, "min", path, k.span);
      k.b = fieldValue(ctx, o, "max", path, k.span);
      if (k.a > k.b) ctx.fail(path + ".min", "must not exceed max");
      break;
    case Kind::Set: {
      k.span = widthOf(ctx, o, path);
      const Napi::Value vs = o.Get("values");
      if (!vs.IsArray()) ctx.fail(path + ".values", "must be an array (got " + describe(vs) + ")");
      const Napi::Array arr = vs.As<Napi::Array>();
      const uint32_t n = arr.Length();
      if (n < 1 || n > kMaxSetValues) {
        ctx.fail(path + ".values", "must hold 1 to " + std::to_string(kMaxSetValues) + " values (got " +
                                       std::to_string(n) + ")");
      }
      for (uint32_t j = 0; j < n; j++) {
        k.values.push_back(
            fieldValue(ctx, arr.Get(j), path + ".values[" + std::to_string(j) + "]", k.span));
      }
      break;
    }
    case Kind::Aligned: {
      k.span = widthOf(ctx, o, path);
      const Napi::Value v = o.Get("alignment");
      bool ok = false;
      uint64_t x = 0;
      if (v.IsBigInt()) {
        bool lossless = false;
        x = v.As<Napi::BigInt>().Uint64Value(&lossless);
        ok = lossless && x != 0 && (x & (x - 1)) == 0 && x <= maxOf(k.span);
      }
      if (!ok) {
        ctx.fail(path + ".alignment", "must be a power of two that fits in an unsigned " +
                                          std::to_string(8 * k.span) + "-bit field (got " +
                                          describe(v) + ")");
      }
      k.a = x - 1;
      break;
    }
    case Kind::Kptr:
    case Kind::KptrOrNull: {
      const Napi::Value m = o.Get("mode");
      const std::string mode = m.IsString() ? m.As<Napi::String>().Utf8Value() : std::string();
      if (m.IsString() && mode == "x86-64-4") {
        k.span = 8, k.a = kKernelBase4;
      } else if (m.IsString() && mode == "x86-64-5") {
        k.span = 8, k.a = kKernelBase5;
      } else if (m.IsString() && mode == "x86-32") {
        k.span = 4, k.a = kKernelBase32;
      } else {
        ctx.fail(path + ".mode", "must be one of x86-64-4, x86-64-5, x86-32 (got " + describe(m) + ")");
      }
      break;
    }
    case Kind::String: {
      k.minLength = uint32_t(integerIn(ctx, o, "minLength", path, 0, kMaxStringLength - 1));
      k.span = uint32_t(integerIn(ctx, o, "maxLength", path, 1, kMaxStringLength));
      if (k.minLength >= k.span) ctx.fail(path + ".minLength", "must be less than maxLength");
      break;
    }
  }
  const uint64_t end = uint64_t(k.offset) + k.span;
  if (end > kMaxProgramSpan) {
    ctx.fail(path + ".offset", "the field ends at byte " + std::to_string(end) +
                                   ", past the largest span a program may have (" +
                                   std::to_string(kMaxProgramSpan) + ")");
  }
  return k;
}

}  // namespace

Program compileProgram(Napi::Env env, const Napi::Value& value, const std::string& source) {
  const Ctx ctx{env, source};
  if (!isPlainObject(value)) ctx.fail("", "the program must be an object (got " + describe(value) + ")");
  const Napi::Object o = value.As<Napi::Object>();
  Program p;
  p.source = source;

  const Napi::Value alignment = o.Get("alignment");
  auto a = safeInteger(alignment);
  if (!a || *a < 1 || *a > kMaxAlignment || (*a & (*a - 1)) != 0) {
    ctx.fail("alignment", "must be a power of two from 1 to " + std::to_string(kMaxAlignment) + " (got " +
                              describe(alignment) + ")");
  }
  p.alignment = uint32_t(*a);

  const Napi::Value cs = o.Get("constraints");
  if (!cs.IsArray()) ctx.fail("constraints", "must be an array (got " + describe(cs) + ")");
  const Napi::Array arr = cs.As<Napi::Array>();
  const uint32_t n = arr.Length();
  if (n == 0) ctx.fail("constraints", "must hold at least one constraint");
  if (n > kMaxConstraints) {
    ctx.fail("constraints", "must hold at most " + std::to_string(kMaxConstraints) + " constraints (got " +
                                std::to_string(n) + ")");
  }
  for (uint32_t i = 0; i < n; i++) {
    p.constraints.push_back(compileConstraint(ctx, arr.Get(i), "constraints[" + std::to_string(i) + "]"));
    p.span = std::max(p.span, p.constraints.back().offset + p.constraints.back().span);
  }
  p.prefilter = makePrefilter(p.constraints[0]);
  return p;
}

}  // namespace kcarve
