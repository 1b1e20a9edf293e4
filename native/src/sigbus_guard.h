// Reading a mapped file that shrank raises SIGBUS, which would kill the whole
// process (every worker with it). runGuarded() runs a read-only pass over
// [lo, hi) so that such a fault returns to the caller instead.
//
// One process-wide SIGBUS handler is installed the first time (std::call_once).
// A fault inside a guarded region of the faulting thread jumps back with
// siglongjmp; any other SIGBUS goes to whatever handler was installed before
// ours (or the default action, which ends the process as it would have).
// The handler is found through a thread_local pointer, so each thread (each
// worker) guards its own scan.
#pragma once

#include <cstdint>

namespace kcarve {

struct GuardOutcome {
  bool faulted = false;
  uint64_t faultOffset = 0;  // from lo, when faulted
};

// Runs fn(arg) with SIGBUS at addresses in [lo, hi) turned into a return.
// fn must only read [lo, hi) and must not leave resources half-acquired if it
// is abandoned mid-way (it may be cut off at any read of the mapping).
GuardOutcome runGuarded(const uint8_t* lo, const uint8_t* hi, void (*fn)(void*), void* arg);

}  // namespace kcarve
