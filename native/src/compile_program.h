#pragma once

#include <napi.h>

#include <string>

#include "errors.h"
#include "program.h"

namespace kcarve {

// Validates and compiles a JS Program; throws SignatureError(source, field, reason).
Program compileProgram(Napi::Env env, const Napi::Value& value, const std::string& source);

}  // namespace kcarve
