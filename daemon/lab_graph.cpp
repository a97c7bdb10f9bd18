#include "daemon/lab_graph.h"

#include <graphviz/gvc.h>

#include <memory>
#include <sstream>
#include <stdexcept>

#include "lib/plan/impair.h"

namespace vpcd {

namespace {

// Names are RFC 1035 labels and CIDRs: nothing in them needs escaping but
// the quotes DOT puts around every id.
std::string q(const std::string& id) {
  return "\"" + id + "\"";
}

std::string cidrs(const std::vector<Cidr>& list) {
  std::string out;
  for (const auto& c : list) out += (out.empty() ? "" : ", ") + c.str();
  return out;
}

size_t ruleCount(const Policy& p) {
  size_t n = 0;
  for (const auto& s : p.sections) n += s.ingress.size() + s.egress.size();
  return n;
}

void drawVpc(std::ostringstream& out, const Vpc& v) {
  out << "  subgraph " << q("cluster_" + v.name) << " {\n"
      << "    label=" << q("vpc " + v.name + "\\n" + v.cidr.str()) << "; style=rounded;\n"
      << "    " << q("vpc:" + v.name) << " [shape=box, style=\"rounded,filled\", "
      << "fillcolor=\"#e8e8e8\", label=" << q("router\\nvpc-" + v.name) << "];\n";
  for (const auto& s : v.subnets) {
    bool pub = s.type == SubnetType::Public;
    out << "    " << q("subnet:" + v.name + "/" + s.name)
        << " [shape=box, style=filled, fillcolor=" << q(pub ? "#d9ead3" : "#fce5cd")
        << ", label=" << q(s.name + "\\n" + s.cidr.str() + "\\n" + toString(s.type)) << "];\n"
        << "    " << q("vpc:" + v.name) << " -> " << q("subnet:" + v.name + "/" + s.name)
        << " [dir=none];\n";
  }
  out << "  }\n"
      << "  " << q("vpc:" + v.name) << " -> internet [dir=none, style=dashed, label=\"uplink\"];\n";
}

// An impairment beside the link it acts on: red while in effect, grey when
// switched off, with what it does.
void drawImpairment(std::ostringstream& out, const DesiredState& state, const Impairment& i) {
  std::string effect = i.down ? "down" : "";
  if (i.shapes()) effect += (effect.empty() ? "" : " ") + netemOf(i).describe();
  std::string at;
  if (i.kind == Impairment::Kind::Subnet && state.findSubnet({i.vpc, i.subnet})) {
    at = "subnet:" + i.vpc + "/" + i.subnet;
  } else if (i.kind == Impairment::Kind::Nic && state.findInstance(i.instance)) {
    at = "instance:" + i.instance;
  } else if (i.kind == Impairment::Kind::Peering && state.findVpc(i.vpc)) {
    at = "vpc:" + i.vpc;
  } else {
    return;
  }
  std::string color = i.enabled ? "#cc0000" : "#999999";
  out << "  " << q("impairment:" + i.name) << " [shape=octagon, color=" << q(color)
      << ", fontcolor=" << q(color)
      << ", label=" << q("impairment " + i.name + "\\n" + effect + (i.enabled ? "" : "\\n(off)"))
      << "];\n"
      << "  " << q("impairment:" + i.name) << " -> " << q(at)
      << " [style=dashed, color=" << q(color)
      << ", label=" << q(i.target + " (" + i.direction + ")") << "];\n";
}

}  // namespace

std::string labDot(const DesiredState& state, const std::string& lab, const std::string& title) {
  auto mine = [&](const std::string& owner) { return lab.empty() || owner == lab; };
  std::ostringstream out;
  out << "digraph " << q(title) << " {\n"
      << "  graph [rankdir=LR, fontname=\"Helvetica\", label=" << q("lab " + title) << "];\n"
      << "  node [fontname=\"Helvetica\", fontsize=10];\n"
      << "  edge [fontname=\"Helvetica\", fontsize=9];\n"
      << "  internet [shape=ellipse, label=\"internet\"];\n";
  for (const auto& [name, v] : state.vpcs()) {
    if (mine(v->lab)) drawVpc(out, *v);
  }
  for (const auto& [name, p] : state.peerings()) {
    if (!mine(p.lab) || !state.findVpc(p.vpc) || !state.findVpc(p.peerVpc)) continue;
    std::string label = "peering " + name + " (" + toString(p.state) + ")";
    for (const auto& [side, list] : p.allowed) label += "\\n" + side + ": " + cidrs(list);
    out << "  " << q("vpc:" + p.vpc) << " -> " << q("vpc:" + p.peerVpc)
        << " [dir=both, style=bold, color=\"#3c78d8\", label=" << q(label) << "];\n";
  }
  for (const auto& [name, i] : state.instances()) {
    if (!mine(i->lab)) continue;
    out << "  " << q("instance:" + name)
        << " [shape=component, label=" << q(name + "\\n" + toString(i->status)) << "];\n";
    for (const auto& n : i->nics) {
      if (!state.findSubnet({n.vpc, n.subnet})) continue;
      out << "  " << q("instance:" + name) << " -> " << q("subnet:" + n.target())
          << " [dir=none, label=" << q(n.name + " " + n.ip.str()) << "];\n";
    }
  }
  for (const auto& [name, p] : state.policies()) {
    if (!mine(p->lab)) continue;
    const PolicySection& first = p->sections.front();
    out << "  " << q("policy:" + name) << " [shape=note, label="
        << q("policy " + name + "\\ningress default " + toString(first.defaultIngress) + "\\n" +
             std::to_string(ruleCount(*p)) + " rules")
        << "];\n";
    for (const auto& s : p->sections) {
      for (const auto& t : s.appliesTo) {
        auto ref = SubnetRef::parse(t);
        if (ref && state.findSubnet(*ref))
          out << "  " << q("policy:" + name) << " -> " << q("subnet:" + t) << " [style=dotted];\n";
      }
    }
  }
  for (const auto& [name, i] : state.impairments()) {
    if (mine(i->lab)) drawImpairment(out, state, *i);
  }
  out << "}\n";
  return out.str();
}

std::string renderSvg(const std::string& dot) {
  // Plugins come from graphviz's own configuration (Debian's libgvc6 writes
  // it when installed): the dot layout and the core SVG renderer.
  std::unique_ptr<GVC_t, int (*)(GVC_t*)> gvc(gvContext(), gvFreeContext);
  if (!gvc) throw std::runtime_error("graphviz: no context");
  std::unique_ptr<Agraph_t, int (*)(Agraph_t*)> g(agmemread(dot.c_str()), agclose);
  if (!g) throw std::runtime_error("graphviz: the DOT text does not parse");
  if (gvLayout(gvc.get(), g.get(), "dot") != 0)
    throw std::runtime_error("graphviz: the dot layout is not available");
  char* data = nullptr;
  unsigned int length = 0;
  int rc = gvRenderData(gvc.get(), g.get(), "svg", &data, &length);
  std::string svg = rc == 0 && data ? std::string(data, length) : std::string();
  if (data) gvFreeRenderData(data);
  gvFreeLayout(gvc.get(), g.get());
  if (rc != 0) throw std::runtime_error("graphviz: the SVG renderer is not available");
  return svg;
}

}  // namespace vpcd
