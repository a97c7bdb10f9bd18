#pragma once
// Fault injection for crash tests, used only when asked (vpcd sets it from
// VPCD_FAULT_AFTER_OPS): the process kills itself with SIGKILL (as `kill
// -9`: no cleanup, no core file) right after the Nth mutating kernel call.
// A mutation hook rather than a wrapper around Kernel: one action may be
// several calls (a link created, then marked), and the crash tests stop the
// daemon between those too.
#include <signal.h>
#include <unistd.h>

#include <cstdint>

#include "lib/kernel/kernel.h"

namespace vpcd {

inline void crashAfter(Kernel& kernel, uint64_t n) {
  if (n == 0) return;
  kernel.setMutationHook([n](uint64_t count) {
    if (count == n) ::kill(::getpid(), SIGKILL);
  });
}

}  // namespace vpcd
