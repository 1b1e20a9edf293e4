// Per-instance addon state and the project's error classes, handed over by
// init() from src/native/index.ts. Each Node environment (main thread, worker)
// has its own AddonData; nothing here is a mutable global.
#pragma once

#include <napi.h>

#include <cstdint>
#include <optional>
#include <string>

namespace kcarve {

struct AddonData {
  bool initialized = false;
  Napi::FunctionReference imageIOError, imageFormatError, signatureError, usageError;
  Napi::FunctionReference imageClass, programClass;
};

// The instance data of env; throws a plain Error if init() was not called.
AddonData& addonData(Napi::Env env);

[[noreturn]] void throwUsage(Napi::Env env, const std::string& message);
[[noreturn]] void throwSignature(Napi::Env env, const std::string& file, const std::string& field,
                                 const std::string& reason);
[[noreturn]] void throwImageIO(Napi::Env env, const std::string& path,
                               std::optional<uint64_t> offset, const std::string& reason);
[[noreturn]] void throwImageFormat(Napi::Env env, const std::string& path,
                                   std::optional<uint64_t> offset, const std::string& reason);

// How a bad value is shown in messages; mirrors describe() in
// src/signatures/validate.ts exactly (tests compare the messages).
std::string describe(const Napi::Value& v);
std::string hex(uint64_t v);
// "ENOENT: No such file or directory"
std::string errnoText(int err);

// A JS number that is a safe integer (|x| <= 2^53 - 1), as int64; nullopt otherwise.
std::optional<int64_t> safeInteger(const Napi::Value& v);

}  // namespace kcarve
