#include "program_handle.h"

#include <utility>

#include "errors.h"
#include "matcher.h"

namespace kcarve {

Napi::Function ProgramHandle::DefineClass(Napi::Env env) {
  return ObjectWrap<ProgramHandle>::DefineClass(
      env, "CompiledProgram",
      {InstanceAccessor<&ProgramHandle::GetSource>("source"),
       InstanceAccessor<&ProgramHandle::GetAlignment>("alignment"),
       InstanceAccessor<&ProgramHandle::GetSpan>("span"),
       InstanceAccessor<&ProgramHandle::GetConstraintCount>("constraintCount"),
       InstanceAccessor<&ProgramHandle::GetSimd>("simd")});
}

Napi::Object ProgramHandle::Wrap(Napi::Env env, Program program) {
  Napi::External<Program> ext = Napi::External<Program>::New(env, &program);
  return addonData(env).programClass.New({ext});
}

ProgramHandle::ProgramHandle(const Napi::CallbackInfo& info) : ObjectWrap<ProgramHandle>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throwUsage(info.Env(), "CompiledProgram cannot be constructed directly; call compileProgram(program)");
  }
  program_ = std::move(*info[0].As<Napi::External<Program>>().Data());
}

const Program& ProgramHandle::From(Napi::Env env, const Napi::Value& v, const char* fn) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(addonData(env).programClass.Value())) {
    throwUsage(env, std::string(fn) + ": program must be a handle returned by compileProgram() (got " +
                        describe(v) + ")");
  }
  return ProgramHandle::Unwrap(v.As<Napi::Object>())->program();
}

Napi::Value ProgramHandle::GetSource(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), program_.source);
}
Napi::Value ProgramHandle::GetAlignment(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), program_.alignment);
}
Napi::Value ProgramHandle::GetSpan(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), program_.span);
}
Napi::Value ProgramHandle::GetConstraintCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(program_.constraints.size()));
}
// Whether scans of this program take the AVX2 prefilter path on this CPU.
Napi::Value ProgramHandle::GetSimd(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), avx2Usable(program_) && cpuHasAvx2());
}

}  // namespace kcarve
