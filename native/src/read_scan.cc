#include "read_scan.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>

namespace kcarve {

namespace {

// Small enough that a block and its overlap stay in L2 between the copy and
// the scan (256 KiB measured slightly faster than 1 MiB).
constexpr uint64_t kBlock = 256 << 10;
constexpr uint64_t kPage = 4096;

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

// Reads exactly len bytes at off, or says why not.
ReadScanOutcome readFully(int fd, uint8_t* dst, uint64_t len, uint64_t off) {
  uint64_t got = 0;
  while (got < len) {
    const ssize_t k = ::pread(fd, dst + got, len - got, off_t(off + got));
    if (k < 0) {
      if (errno == EINTR) continue;
      ReadScanOutcome o;
      o.io = ReadScanOutcome::Io::Error;
      o.error = errno;
      o.offset = off + got;
      return o;
    }
    if (k == 0) {
      ReadScanOutcome o;
      o.io = ReadScanOutcome::Io::EndOfFile;
      o.offset = off + got;
      return o;
    }
    got += uint64_t(k);
  }
  return {};
}

}  // namespace

ReadScanOutcome scanByReading(int fd, const Program& program, const Window& w, bool simd,
                              uint64_t maxHits, std::vector<double>& out) {
  // A destination just past a page boundary makes the kernel's copy several
  // times slower than a page-aligned one, so the buffer is page-aligned.
  const uint64_t capacity = (kBlock + program.span + kPage - 1) & ~(kPage - 1);
  std::unique_ptr<uint8_t, FreeDeleter> buf(static_cast<uint8_t*>(std::aligned_alloc(kPage, capacity)));
  if (!buf) throw std::bad_alloc();

  const uint64_t a = program.alignment;
  for (uint64_t s = w.start; s < w.end; s += kBlock) {
    const uint64_t e = std::min(w.end, s + kBlock);
    // Candidates below e read at most up to e - 1 + span.
    const uint64_t readEnd = std::min(w.limit, e + program.span - 1);
    ReadScanOutcome r = readFully(fd, buf.get(), readEnd - s, s);
    if (r.io != ReadScanOutcome::Io::Ok) return r;
    // Same candidates as the whole window: (c - s + phase') % a == (c - w.start + phase) % a.
    Window sub;
    sub.start = 0;
    sub.end = e - s;
    sub.limit = readEnd - s;
    sub.phase = (s - w.start + w.phase % a) % a;
    const size_t before = out.size();
    r.status = scanRange(buf.get(), program, sub, simd, maxHits, out);
    for (size_t i = before; i < out.size(); i++) out[i] += double(s);
    if (r.status != ScanStatus::Ok) return r;
  }
  return {};
}

}  // namespace kcarve
