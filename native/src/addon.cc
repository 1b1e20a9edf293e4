// kcarve native matcher: the exported functions. JS values become C++ structs
// at entry (compileProgram, parseWindow); the scan loop never touches JS.
// Typed by src/native/types.ts; loaded only through src/native/index.ts.
#include <napi.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "compile_program.h"
#include "errors.h"
#include "image.h"
#include "matcher.h"
#include "program_handle.h"
#include "read_scan.h"
#include "sigbus_guard.h"

namespace kcarve {
namespace {

constexpr uint64_t kDefaultMaxHits = 1ull << 24;

uint64_t nonNegative(Napi::Env env, const Napi::Value& v, const std::string& name) {
  auto i = safeInteger(v);
  if (!i || *i < 0) throwUsage(env, name + " must be a non-negative safe integer (got " + describe(v) + ")");
  return uint64_t(*i);
}

Window parseWindow(Napi::Env env, const Napi::Value& v) {
  if (v.Type() != napi_object) throwUsage(env, "scan window must be an object (got " + describe(v) + ")");
  const Napi::Object o = v.As<Napi::Object>();
  Window w;
  w.start = nonNegative(env, o.Get("start"), "window.start");
  w.end = nonNegative(env, o.Get("end"), "window.end");
  w.limit = nonNegative(env, o.Get("limit"), "window.limit");
  w.phase = nonNegative(env, o.Get("phase"), "window.phase");
  if (w.end < w.start) {
    throwUsage(env, "window.end (" + hex(w.end) + ") must not be less than window.start (" + hex(w.start) + ")");
  }
  if (w.limit < w.end) {
    throwUsage(env, "window.limit (" + hex(w.limit) + ") must not be less than window.end (" + hex(w.end) + ")");
  }
  return w;
}

std::string windowText(const Window& w) {
  return "scan window [" + hex(w.start) + ", " + hex(w.end) + ") reads up to " + hex(w.limit);
}

enum class Io { Map, Read };

struct ScanOptions {
  uint64_t maxHits = kDefaultMaxHits;
  bool simd = true;
  Io io = Io::Read;
};

ScanOptions parseOptions(Napi::Env env, const Napi::Value& v) {
  ScanOptions opt;
  if (v.IsUndefined()) return opt;
  if (v.Type() != napi_object) throwUsage(env, "scan options must be an object (got " + describe(v) + ")");
  const Napi::Object o = v.As<Napi::Object>();
  const Napi::Value maxHits = o.Get("maxHits");
  if (!maxHits.IsUndefined()) {
    auto i = safeInteger(maxHits);
    if (!i || *i < 1) {
      throwUsage(env, "options.maxHits must be a positive safe integer (got " + describe(maxHits) + ")");
    }
    opt.maxHits = uint64_t(*i);
  }
  const Napi::Value simd = o.Get("simd");
  if (!simd.IsUndefined()) {
    if (!simd.IsBoolean()) throwUsage(env, "options.simd must be a boolean (got " + describe(simd) + ")");
    opt.simd = simd.As<Napi::Boolean>().Value();
  }
  const Napi::Value io = o.Get("io");
  if (!io.IsUndefined()) {
    const std::string name = io.IsString() ? io.As<Napi::String>().Utf8Value() : std::string();
    if (name == "map") {
      opt.io = Io::Map;
    } else if (name == "read") {
      opt.io = Io::Read;
    } else {
      throwUsage(env, "options.io must be \"map\" or \"read\" (got " + describe(io) + ")");
    }
  }
  return opt;
}

Napi::Float64Array toFloat64Array(Napi::Env env, const std::vector<double>& hits) {
  Napi::Float64Array out = Napi::Float64Array::New(env, hits.size());
  if (!hits.empty()) std::memcpy(out.Data(), hits.data(), hits.size() * sizeof(double));
  return out;
}

[[noreturn]] void tooManyHits(Napi::Env env, const Program& p, const Window& w, uint64_t maxHits) {
  throwSignature(env, p.source, "",
                 "more than " + std::to_string(maxHits) + " candidates matched in [" + hex(w.start) + ", " +
                     hex(w.end) + "); the program is not selective enough (options.maxHits raises the cap)");
}

struct ScanJob {
  const uint8_t* base;
  const Program* program;
  Window window;
  ScanOptions options;
  std::vector<double>* hits;
  ScanStatus status;
};

void runScanJob(void* arg) {
  auto* job = static_cast<ScanJob*>(arg);
  job->status = scanRange(job->base, *job->program, job->window, job->options.simd, job->options.maxHits,
                          *job->hits);
}

// Checks the mapped image still covers [0, needed): the mapping is as long as
// the file was at open, and the file itself must not have shrunk below it.
void requireCovered(Napi::Env env, ImageHandle& img, uint64_t needed, const std::string& what) {
  if (needed > img.size()) {
    throwImageIO(env, img.path(), needed, what + ", past the end of the file (" + hex(img.size()) + " bytes)");
  }
  const uint64_t now = img.currentSize(env);
  if (needed > now) {
    throwImageIO(env, img.path(), needed, "the file shrank to " + hex(now) + " bytes since it was opened (" +
                                              hex(img.size()) + " bytes); " + what);
  }
}

// Maps the pages of [from, to) before the pass reads them. On the kernel this
// was measured on, MADV_POPULATE_READ (Linux 5.14) maps 1 GiB of cached file
// in under a millisecond (large folios), where taking the page faults one by
// one during the pass cost 10-30 ms per GiB. For a file not in the page cache
// it reads it in. Failure is harmless: the pass then faults pages in itself
// (and a page that cannot be read raises SIGBUS, which the guard reports).
void populate(const ImageHandle& img, uint64_t from, uint64_t to) {
  static const uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
  from &= ~(page - 1);
  if (to <= from) return;
  void* at = const_cast<uint8_t*>(img.data()) + from;
#ifdef MADV_POPULATE_READ
  if (::madvise(at, to - from, MADV_POPULATE_READ) == 0) return;
#endif
  ::madvise(at, to - from, MADV_WILLNEED);  // older kernels: start readahead at least
}

[[noreturn]] void shrankDuringRead(Napi::Env env, const ImageHandle& img, uint64_t offset) {
  throwImageIO(env, img.path(), offset, "the file shrank while it was being read (SIGBUS in the mapping)");
}

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AddonData* data = env.GetInstanceData<AddonData>();
  if (info.Length() != 1 || info[0].Type() != napi_object) {
    throw Napi::TypeError::New(env, "init({ ImageIOError, ImageFormatError, SignatureError, UsageError }) "
                                    "expects the error classes of src/errors.ts");
  }
  const Napi::Object errors = info[0].As<Napi::Object>();
  const char* names[] = {"ImageIOError", "ImageFormatError", "SignatureError", "UsageError"};
  Napi::FunctionReference* slots[] = {&data->imageIOError, &data->imageFormatError, &data->signatureError,
                                      &data->usageError};
  for (int i = 0; i < 4; i++) {
    Napi::Value ctor = errors.Get(names[i]);
    if (!ctor.IsFunction()) throw Napi::TypeError::New(env, std::string("init: ") + names[i] + " must be a class");
    *slots[i] = Napi::Persistent(ctor.As<Napi::Function>());
  }
  data->initialized = true;
  return env.Undefined();
}

Napi::Value OpenImage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  addonData(env);
  if (!info[0].IsString()) throwUsage(env, "openImage: path must be a string (got " + describe(info[0]) + ")");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.empty() || path.find('\0') != std::string::npos) {
    throwUsage(env, "openImage: path must be a non-empty string without NUL bytes");
  }
  return ImageHandle::Open(env, path);
}

Napi::Value CompileProgram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  addonData(env);
  std::string source = "program";
  if (!info[1].IsUndefined()) {
    if (!info[1].IsString()) throwUsage(env, "compileProgram: source must be a string (got " + describe(info[1]) + ")");
    source = info[1].As<Napi::String>().Utf8Value();
  }
  return ProgramHandle::Wrap(env, compileProgram(env, info[0], source));
}

Napi::Value Scan(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ImageHandle& img = ImageHandle::From(env, info[0], "scan");
  const Program& program = ProgramHandle::From(env, info[1], "scan");
  const Window w = parseWindow(env, info[2]);
  const ScanOptions opt = parseOptions(env, info[3]);
  // Only now: the parsing above ran JS getters, which could have closed the image.
  img.requireOpen(env, "scan");
  requireCovered(env, img, w.limit, windowText(w));

  std::vector<double> hits;
  if (opt.io == Io::Read) {
    const ReadScanOutcome r = scanByReading(img.fd(), program, w, opt.simd, opt.maxHits, hits);
    if (r.io == ReadScanOutcome::Io::EndOfFile) {
      throwImageIO(env, img.path(), r.offset, "the file shrank while it was being read (end of file)");
    }
    if (r.io == ReadScanOutcome::Io::Error) {
      throwImageIO(env, img.path(), r.offset, "read failed (" + errnoText(r.error) + ")");
    }
    if (r.status == ScanStatus::TooManyHits) tooManyHits(env, program, w, opt.maxHits);
    return toFloat64Array(env, hits);
  }
  populate(img, w.start, w.limit);
  ScanJob job{img.data(), &program, w, opt, &hits, ScanStatus::Ok};
  const GuardOutcome g = runGuarded(img.data(), img.data() + img.size(), runScanJob, &job);
  if (g.faulted) shrankDuringRead(env, img, g.faultOffset);
  if (job.status == ScanStatus::TooManyHits) tooManyHits(env, program, w, opt.maxHits);
  return toFloat64Array(env, hits);
}

Napi::Value ScanBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  addonData(env);
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throwUsage(env, "scanBuffer: buffer must be a Uint8Array (got " + describe(info[0]) + ")");
  }
  const Program& program = ProgramHandle::From(env, info[1], "scanBuffer");
  const Window w = parseWindow(env, info[2]);
  const ScanOptions opt = parseOptions(env, info[3]);
  // Taken only now: node-addon-api caches the data pointer and length, and the
  // getters run while parsing could have detached (transferred) the buffer.
  const Napi::Uint8Array buf = info[0].As<Napi::Uint8Array>();
  if (w.limit > buf.ByteLength()) {
    throwUsage(env, windowText(w) + ", past the end of the buffer (" + hex(buf.ByteLength()) + " bytes)");
  }
  std::vector<double> hits;
  if (scanRange(buf.Data(), program, w, opt.simd, opt.maxHits, hits) == ScanStatus::TooManyHits) {
    tooManyHits(env, program, w, opt.maxHits);
  }
  return toFloat64Array(env, hits);
}

struct SumJob {
  const uint8_t* base;
  uint64_t start, end;
  bool simd;
  uint64_t sum;
};

void runSumJob(void* arg) {
  auto* job = static_cast<SumJob*>(arg);
  job->sum = sumU64(job->base, job->start, job->end, job->simd);
}

Napi::Value SumU64(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ImageHandle& img = ImageHandle::From(env, info[0], "sumU64");
  const uint64_t start = nonNegative(env, info[1], "sumU64: start");
  const uint64_t end = nonNegative(env, info[2], "sumU64: end");
  if (end < start) throwUsage(env, "sumU64: end (" + hex(end) + ") must not be less than start (" + hex(start) + ")");
  const ScanOptions opt = parseOptions(env, info[3]);
  img.requireOpen(env, "sumU64");  // after the getters parseOptions may have run
  requireCovered(env, img, end, "sumU64 range [" + hex(start) + ", " + hex(end) + ")");
  populate(img, start, end);
  SumJob job{img.data(), start, end, opt.simd, 0};
  const GuardOutcome g = runGuarded(img.data(), img.data() + img.size(), runSumJob, &job);
  if (g.faulted) shrankDuringRead(env, img, g.faultOffset);
  return Napi::BigInt::New(env, job.sum);
}

Napi::Value CpuFeatures(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("avx2", Napi::Boolean::New(info.Env(), cpuHasAvx2()));
  return o;
}

}  // namespace

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  data->imageClass = Napi::Persistent(ImageHandle::DefineClass(env));
  data->programClass = Napi::Persistent(ProgramHandle::DefineClass(env));
  exports.Set("init", Napi::Function::New(env, Init, "init"));
  exports.Set("openImage", Napi::Function::New(env, OpenImage, "openImage"));
  exports.Set("compileProgram", Napi::Function::New(env, CompileProgram, "compileProgram"));
  exports.Set("scan", Napi::Function::New(env, Scan, "scan"));
  exports.Set("scanBuffer", Napi::Function::New(env, ScanBuffer, "scanBuffer"));
  exports.Set("sumU64", Napi::Function::New(env, SumU64, "sumU64"));
  exports.Set("cpuFeatures", Napi::Function::New(env, CpuFeatures, "cpuFeatures"));
  return exports;
}

}  // namespace kcarve

static Napi::Object InitKcarve(Napi::Env env, Napi::Object exports) {
  return kcarve::InitModule(env, exports);
}

NODE_API_MODULE(kcarve_native, InitKcarve)
