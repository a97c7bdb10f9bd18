#pragma once
// A lab drawn: its VPCs (each a cluster with its router and subnets),
// instances with an edge per NIC, peerings with their allow-lists, policies
// on their subnets. DOT text, laid out and rendered to SVG by graphviz.
#include <string>

#include "lib/model/desired_state.h"

namespace vpcd {

// The objects of `lab` (the whole host when empty) as a DOT digraph.
std::string labDot(const DesiredState& state, const std::string& lab, const std::string& title);
// `dot` laid out by graphviz's dot and rendered as SVG. Throws
// std::runtime_error when graphviz cannot (no layout or SVG plugin).
std::string renderSvg(const std::string& dot);

}  // namespace vpcd
