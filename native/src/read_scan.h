// Scanning by reading: the window is read with pread() in 256 KiB blocks into
// a page-aligned buffer (plus the span of overlap) and each block is scanned
// there. Same results as scanning the mapping (a block owns the candidates
// that start in it and reads their whole span, as chunks do).
//
// Why: every page of a fresh mapping costs a page-table entry and, on first
// touch, an Accessed-bit update; in the VM this was measured in, a single pass
// over a fresh mapping took 3-5x the CPU time of pread() from the page cache
// plus the scan, and a scan touches every page of an image once. Reading also cannot
// raise SIGBUS: a file that shrinks gives a short read.
#pragma once

#include <cstdint>
#include <vector>

#include "matcher.h"

namespace kcarve {

struct ReadScanOutcome {
  enum class Io { Ok, EndOfFile, Error } io = Io::Ok;
  ScanStatus status = ScanStatus::Ok;
  int error = 0;         // errno when io == Error
  uint64_t offset = 0;   // file offset of the failed read
};

ReadScanOutcome scanByReading(int fd, const Program& program, const Window& w, bool simd,
                              uint64_t maxHits, std::vector<double>& out);

}  // namespace kcarve
