// An image file mapped read-only, as a JS handle (openImage()). The mapping
// lives until close() or until the handle is garbage-collected.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace kcarve {

class ImageHandle : public Napi::ObjectWrap<ImageHandle> {
 public:
  static Napi::Function DefineClass(Napi::Env env);
  // Opens and maps path; throws ImageIOError / ImageFormatError.
  static Napi::Object Open(Napi::Env env, const std::string& path);
  // The handle behind a JS value, or a UsageError naming the function.
  static ImageHandle& From(Napi::Env env, const Napi::Value& v, const char* fn);

  explicit ImageHandle(const Napi::CallbackInfo& info);
  ~ImageHandle() override;

  const std::string& path() const { return path_; }
  const uint8_t* data() const { return data_; }
  int fd() const { return fd_; }
  uint64_t size() const { return size_; }
  bool closed() const { return data_ == nullptr; }

  // The file's current size (fstat), to catch a file that shrank since open.
  // Throws ImageIOError if fstat fails.
  uint64_t currentSize(Napi::Env env) const;
  // Throws UsageError if the handle is closed.
  void requireOpen(Napi::Env env, const char* fn) const;

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value GetPath(const Napi::CallbackInfo& info);
  Napi::Value GetSize(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);
  void release();

  std::string path_;
  int fd_ = -1;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace kcarve
