#include "image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "errors.h"

namespace kcarve {

namespace {
// Marks construction from Open(); JS cannot make one with `new`.
struct OpenToken {
  std::string path;
  int fd;
  const uint8_t* data;
  uint64_t size;
};
}  // namespace

Napi::Function ImageHandle::DefineClass(Napi::Env env) {
  return ObjectWrap<ImageHandle>::DefineClass(
      env, "NativeImage",
      {InstanceMethod<&ImageHandle::Close>("close"),
       InstanceAccessor<&ImageHandle::GetPath>("path"),
       InstanceAccessor<&ImageHandle::GetSize>("size"),
       InstanceAccessor<&ImageHandle::GetClosed>("closed")});
}

Napi::Object ImageHandle::Open(Napi::Env env, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throwImageIO(env, path, std::nullopt, "cannot open (" + errnoText(errno) + ")");
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throwImageIO(env, path, std::nullopt, "cannot stat (" + errnoText(err) + ")");
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    throwImageFormat(env, path, std::nullopt, "is a directory, not an image file");
  }
  if (!S_ISREG(st.st_mode)) {
    // Block and character devices report no usable size through fstat.
    ::close(fd);
    throwImageFormat(env, path, std::nullopt, "is not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    throwImageFormat(env, path, 0, "is empty");
  }
  const uint64_t size = uint64_t(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    const int err = errno;
    ::close(fd);
    throwImageIO(env, path, std::nullopt, "cannot map (" + errnoText(err) + ")");
  }
  // Scans read forward through large ranges: ask for aggressive readahead.
  ::madvise(map, size, MADV_SEQUENTIAL);

  OpenToken token{path, fd, static_cast<const uint8_t*>(map), size};
  Napi::External<OpenToken> ext = Napi::External<OpenToken>::New(env, &token);
  try {
    return addonData(env).imageClass.New({ext});
  } catch (...) {
    if (token.data != nullptr) {  // the constructor did not take ownership
      ::munmap(const_cast<uint8_t*>(token.data), size);
      ::close(fd);
    }
    throw;
  }
}

ImageHandle::ImageHandle(const Napi::CallbackInfo& info) : ObjectWrap<ImageHandle>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throwUsage(info.Env(), "NativeImage cannot be constructed directly; call openImage(path)");
  }
  OpenToken* token = info[0].As<Napi::External<OpenToken>>().Data();
  path_ = token->path;
  fd_ = token->fd;
  data_ = token->data;
  size_ = token->size;
  token->data = nullptr;  // ownership moved here
}

ImageHandle::~ImageHandle() { release(); }

void ImageHandle::release() {
  if (data_ != nullptr) {
    ::munmap(const_cast<uint8_t*>(data_), size_);
    data_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

ImageHandle& ImageHandle::From(Napi::Env env, const Napi::Value& v, const char* fn) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(addonData(env).imageClass.Value())) {
    throwUsage(env, std::string(fn) + ": image must be a handle returned by openImage() (got " +
                        describe(v) + ")");
  }
  return *ImageHandle::Unwrap(v.As<Napi::Object>());
}

void ImageHandle::requireOpen(Napi::Env env, const char* fn) const {
  if (closed()) throwUsage(env, std::string(fn) + ": the image " + path_ + " is closed");
}

uint64_t ImageHandle::currentSize(Napi::Env env) const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) throwImageIO(env, path_, std::nullopt, "cannot stat (" + errnoText(errno) + ")");
  return uint64_t(st.st_size);
}

Napi::Value ImageHandle::Close(const Napi::CallbackInfo& info) {
  release();
  return info.Env().Undefined();
}
Napi::Value ImageHandle::GetPath(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), path_); }
Napi::Value ImageHandle::GetSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(size_));
}
Napi::Value ImageHandle::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), closed());
}

}  // namespace kcarve
