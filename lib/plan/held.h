#pragma once
// The kernel objects of what start-up held back (lib/model/quarantine.h) are
// left exactly as they are: a plan never creates, changes or deletes them.
#include "lib/model/quarantine.h"
#include "lib/plan/kernel_model.h"

namespace vpcd {

// Whether `action` touches a held object: a namespace of a held VPC or
// instance, or in the host a held VPC's transit link (its address, its
// forwarding setting); with everything held, every action.
bool touchesHeld(const Action& action, const Quarantine& held);

// Takes such actions (and the links they would wait for) out of `plan`.
void dropHeld(Plan& plan, const Quarantine& held);

}  // namespace vpcd
