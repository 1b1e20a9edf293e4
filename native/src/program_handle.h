// A compiled program as a reusable JS handle (compileProgram()). Immutable
// once built, so any number of scans may use it.
#pragma once

#include <napi.h>

#include "program.h"

namespace kcarve {

class ProgramHandle : public Napi::ObjectWrap<ProgramHandle> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, Program program);
  static const Program& From(Napi::Env env, const Napi::Value& v, const char* fn);

  explicit ProgramHandle(const Napi::CallbackInfo& info);
  const Program& program() const { return program_; }

 private:
  Napi::Value GetSource(const Napi::CallbackInfo& info);
  Napi::Value GetAlignment(const Napi::CallbackInfo& info);
  Napi::Value GetSpan(const Napi::CallbackInfo& info);
  Napi::Value GetConstraintCount(const Napi::CallbackInfo& info);
  Napi::Value GetSimd(const Napi::CallbackInfo& info);

  Program program_;
};

}  // namespace kcarve
