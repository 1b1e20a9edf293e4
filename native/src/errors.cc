#include "errors.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace kcarve {

AddonData& addonData(Napi::Env env) {
  AddonData* data = env.GetInstanceData<AddonData>();
  if (data == nullptr || !data->initialized) {
    throw Napi::Error::New(env,
                           "kcarve native: init() was not called; load the addon through "
                           "src/native/index.ts");
  }
  return *data;
}

namespace {
[[noreturn]] void throwWith(Napi::Env env, Napi::FunctionReference& ctor,
                            std::initializer_list<napi_value> args) {
  Napi::Object err = ctor.New(args);
  throw Napi::Error(env, err);
}
napi_value offsetValue(Napi::Env env, std::optional<uint64_t> offset) {
  if (!offset) return env.Undefined();
  return Napi::Number::New(env, double(*offset));
}
}  // namespace

void throwUsage(Napi::Env env, const std::string& message) {
  throwWith(env, addonData(env).usageError, {Napi::String::New(env, message)});
}

void throwSignature(Napi::Env env, const std::string& file, const std::string& field,
                    const std::string& reason) {
  throwWith(env, addonData(env).signatureError,
            {Napi::String::New(env, file), Napi::String::New(env, field),
             Napi::String::New(env, reason)});
}

void throwImageIO(Napi::Env env, const std::string& path, std::optional<uint64_t> offset,
                  const std::string& reason) {
  throwWith(env, addonData(env).imageIOError,
            {Napi::String::New(env, path), offsetValue(env, offset), Napi::String::New(env, reason)});
}

void throwImageFormat(Napi::Env env, const std::string& path, std::optional<uint64_t> offset,
                      const std::string& reason) {
  throwWith(env, addonData(env).imageFormatError,
            {Napi::String::New(env, path), offsetValue(env, offset), Napi::String::New(env, reason)});
}

std::optional<int64_t> safeInteger(const Napi::Value& v) {
  if (!v.IsNumber()) return std::nullopt;
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || std::fabs(d) > 9007199254740991.0) return std::nullopt;
  return int64_t(d);
}

std::string describe(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_number: {
      auto i = safeInteger(v);
      return i ? std::to_string(*i) : "a number that is not a safe integer";
    }
    case napi_string: {
      const std::string s = v.As<Napi::String>().Utf8Value();
      bool plain = s.size() <= 32;
      for (unsigned char ch : s) {
        if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\') plain = false;
      }
      return plain ? "\"" + s + "\"" : "a string";
    }
    case napi_symbol: return "a symbol";
    case napi_function: return "a function";
    case napi_bigint: return "a bigint";
    default: return v.IsArray() ? "an array" : "an object";
  }
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string errnoText(int err) {
  const char* name = strerrorname_np(err);
  return std::string(name ? name : "E?") + ": " + std::strerror(err);
}

}  // namespace kcarve
