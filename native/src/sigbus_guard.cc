#include "sigbus_guard.h"

#include <setjmp.h>
#include <signal.h>

#include <cstring>
#include <mutex>

namespace kcarve {

namespace {

struct Frame {
  sigjmp_buf env;
  const uint8_t* lo;
  const uint8_t* hi;
  const uint8_t* volatile fault;
};

// initial-exec: the handler reads this with a plain %fs-relative load, which
// is async-signal-safe (a dynamic TLS access could call into the loader).
__attribute__((tls_model("initial-exec"))) thread_local Frame* volatile tlsFrame = nullptr;

// Written once, before our handler is installed, under call_once.
struct sigaction previousAction;
std::once_flag installed;

void chain(int sig, siginfo_t* info, void* uctx) {
  const struct sigaction& prev = previousAction;
  if ((prev.sa_flags & SA_SIGINFO) != 0 && prev.sa_sigaction != nullptr) {
    prev.sa_sigaction(sig, info, uctx);
    return;
  }
  if (prev.sa_handler == SIG_DFL || prev.sa_handler == SIG_IGN) {
    // Restore the default action and re-raise: a fault re-executes and ends the
    // process with SIGBUS as if we had never been here.
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(sig, &dfl, nullptr);
    raise(sig);
    return;
  }
  prev.sa_handler(sig);
}

void onSigbus(int sig, siginfo_t* info, void* uctx) {
  Frame* f = tlsFrame;
  if (f != nullptr && info != nullptr) {
    const auto* addr = static_cast<const uint8_t*>(info->si_addr);
    if (addr >= f->lo && addr < f->hi) {
      f->fault = addr;
      tlsFrame = nullptr;
      siglongjmp(f->env, 1);
    }
  }
  chain(sig, info, uctx);
}

void install() {
  struct sigaction act;
  std::memset(&act, 0, sizeof act);
  act.sa_sigaction = onSigbus;
  act.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&act.sa_mask);
  sigaction(SIGBUS, &act, &previousAction);
}

// Kept out of line so that the sigsetjmp frame holds nothing but this.
__attribute__((noinline)) bool guardedCall(Frame* frame, void (*fn)(void*), void* arg) {
  // savemask=1: the handler runs with SIGBUS blocked; siglongjmp must restore
  // the mask or the next fault in this thread would kill the process.
  if (sigsetjmp(frame->env, 1) != 0) return false;
  tlsFrame = frame;
  fn(arg);
  tlsFrame = nullptr;
  return true;
}

}  // namespace

GuardOutcome runGuarded(const uint8_t* lo, const uint8_t* hi, void (*fn)(void*), void* arg) {
  std::call_once(installed, install);
  Frame frame;
  frame.lo = lo;
  frame.hi = hi;
  frame.fault = nullptr;
  bool completed;
  try {
    completed = guardedCall(&frame, fn, arg);
  } catch (...) {
    tlsFrame = nullptr;
    throw;
  }
  GuardOutcome out;
  if (!completed) {
    out.faulted = true;
    out.faultOffset = uint64_t(frame.fault - lo);
  }
  return out;
}

}  // namespace kcarve
