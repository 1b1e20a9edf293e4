// kcarve native matcher (placeholder until the matcher lands).
#include <napi.h>

static Napi::Value AbiVersion(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), 1);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Function::New(env, AbiVersion));
  return exports;
}

NODE_API_MODULE(kcarve_native, Init)
