#include "daemon/gce/listing.h"

#include <regex.h>

#include <algorithm>
#include <cctype>

#include "daemon/gce/errors.h"

namespace vpcd::gce {
namespace {

using nlohmann::json;

GceError badFilter(const std::string& text, const std::string& why) {
  return GceError::invalid("filter", text, "Invalid list filter expression: " + why + ".");
}

// A quoted value is RE2 syntax, as in GCE; vpcd matches it with glibc's
// POSIX extended expressions (the same for what gcloud sends: `.*\bNAME\b.*`,
// anchors, alternation, classes), whose matcher runs in time linear in the
// field for a given pattern. std::regex, used before, backtracks: a filter
// such as "(a*)*b" held the API for minutes (found by tests/fuzz/bodies).
// Back-references (which RE2 has not either) would bring backtracking back,
// and counted repetitions multiply the compiled pattern: both are bounded.
constexpr size_t kMaxPattern = 512;
constexpr int kMaxRepeat = 100;

std::shared_ptr<const regex_t> compile(const std::string& text, const std::string& value) {
  if (value.size() > kMaxPattern)
    throw badFilter(text, "a pattern is at most " + std::to_string(kMaxPattern) + " characters");
  bool afterQuantifier = false;
  for (size_t k = 0; k < value.size(); ++k) {
    // A bracket expression is literal characters: skipped whole.
    if (value[k] == '[') {
      size_t end = value.find(']', k + 2);
      if (end == std::string::npos) break;  // regcomp says it is not a pattern
      k = end;
      afterQuantifier = false;
      continue;
    }
    // "a??????…" made glibc's regcomp copy the tree per quantifier, into
    // gigabytes (found by tests/fuzz/bodies); RE2 refuses it as well.
    bool quantifier = std::string_view("*+?{").find(value[k]) != std::string_view::npos;
    if (quantifier && afterQuantifier)
      throw badFilter(text, "a repetition of a repetition is not supported");
    afterQuantifier = quantifier;
    if (value[k] == '\\' && k + 1 < value.size() &&
        std::isdigit(static_cast<unsigned char>(value[k + 1])))
      throw badFilter(text, "back-references are not supported");
    if (value[k] == '\\') ++k;
    if (value[k] == '{') {
      size_t e = k + 1;
      for (; e < value.size() && value[e] != '}'; ++e) {
        if (std::isdigit(static_cast<unsigned char>(value[e])) &&
            std::atoi(value.c_str() + e) > kMaxRepeat)
          throw badFilter(text, "a repetition count is at most " + std::to_string(kMaxRepeat));
      }
      k = e;  // past the count: what follows it is after a quantifier
    }
  }
  auto* re = new regex_t;
  if (::regcomp(re, ("^(" + value + ")$").c_str(), REG_EXTENDED | REG_NOSUB) != 0) {
    delete re;
    throw badFilter(text, "\"" + value + "\" is not a regular expression");
  }
  return std::shared_ptr<const regex_t>(re, [](const regex_t* r) {
    ::regfree(const_cast<regex_t*>(r));
    delete r;
  });
}

// A bare value matches as itself: every character special to a pattern escaped.
std::string literal(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (std::string_view(".[](){}*+?|^$\\").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

std::string trim(const std::string& s) {
  size_t a = s.find_first_not_of(' '), b = s.find_last_not_of(' ');
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// The terms of a filter: the text inside each top-level pair of
// parentheses, or the whole text when it has none.
std::vector<std::string> termsOf(const std::string& text) {
  std::string t = trim(text);
  if (t.empty() || t.front() != '(') {
    bool quoted = false;
    for (size_t k = 0; k < t.size(); ++k) {
      if (quoted && t[k] == '\\')
        ++k;
      else if (t[k] == '"')
        quoted = !quoted;
      else if (!quoted && (t[k] == '(' || t[k] == ')'))
        throw badFilter(text, "a parenthesis outside a term");
    }
    return {t};
  }
  std::vector<std::string> out;
  size_t depth = 0, start = 0;
  bool quoted = false;
  for (size_t k = 0; k < t.size(); ++k) {
    char c = t[k];
    if (quoted) {
      if (c == '\\' && k + 1 < t.size())
        ++k;
      else if (c == '"')
        quoted = false;
      continue;
    }
    if (c == '"') {
      quoted = true;
    } else if (c == '(') {
      if (depth++ == 0) start = k + 1;
    } else if (c == ')') {
      if (depth == 0) throw badFilter(text, "a ')' without its '('");
      if (--depth == 0) out.push_back(trim(t.substr(start, k - start)));
    } else if (depth == 0 && c != ' ') {
      throw badFilter(text, "terms are written (FIELD eq VALUE)(FIELD ne VALUE)");
    }
  }
  if (depth != 0 || quoted) throw badFilter(text, "an unclosed '(' or quote");
  return out;
}

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    out.push_back(path.substr(start, dot - start));
    if (dot == std::string::npos) return out;
    start = dot + 1;
  }
}

// The texts a field holds: one, several for a list, none when missing.
void valuesAt(const json& node, const std::vector<std::string>& path, size_t at,
              std::vector<std::string>& out) {
  if (node.is_array()) {
    for (const auto& e : node) valuesAt(e, path, at, out);
    return;
  }
  if (at == path.size()) {
    if (node.is_string()) {
      out.push_back(node.get<std::string>());
    } else if (!node.is_null() && !node.is_object()) {
      out.push_back(node.dump());
    }
    return;
  }
  if (node.is_object() && node.contains(path[at])) valuesAt(node[path[at]], path, at + 1, out);
}

size_t number(const Query& q, const std::string& key, size_t fallback, size_t max) {
  auto it = q.find(key);
  if (it == q.end() || it->second.empty()) return fallback;
  const std::string& text = it->second;
  bool digits = text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || std::stoul(text) > max)
    throw GceError::invalid(key, text, "Must be a number from 0 to " + std::to_string(max) + ".");
  return std::stoul(text);
}

}  // namespace

Filter Filter::parse(const std::string& text) {
  Filter f;
  if (trim(text).empty()) return f;
  for (const auto& term : termsOf(text)) {
    size_t sp1 = term.find(' ');
    size_t sp2 = sp1 == std::string::npos ? sp1 : term.find(' ', sp1 + 1);
    if (sp2 == std::string::npos) throw badFilter(text, "a term is FIELD eq|ne VALUE");
    std::string field = term.substr(0, sp1), op = term.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string value = trim(term.substr(sp2 + 1));
    if (op != "eq" && op != "ne") throw badFilter(text, "the operator is eq or ne, not " + op);
    bool quoted = value.size() >= 2 && value.front() == '"' && value.back() == '"';
    value = quoted ? value.substr(1, value.size() - 2) : literal(value);
    f.terms_.push_back(Term{split(field), op == "eq", compile(text, value)});
  }
  return f;
}

bool Filter::matches(const json& resource) const {
  for (const auto& t : terms_) {
    std::vector<std::string> values;
    valuesAt(resource, t.path, 0, values);
    bool any = std::any_of(values.begin(), values.end(), [&](const std::string& v) {
      return ::regexec(t.pattern.get(), v.c_str(), 0, nullptr, 0) == 0;
    });
    if (any != t.equal) return false;
  }
  return true;
}

json listPage(const std::vector<json>& items, const Query& q, const std::string& kind,
              const std::string& selfLink) {
  Filter f = Filter::parse(q.count("filter") ? q.at("filter") : "");
  size_t max = number(q, "maxResults", 500, 500), from = number(q, "pageToken", 0, 1u << 30);
  if (max == 0) max = 500;
  std::vector<json> kept;
  for (const auto& i : items) {
    if (f.matches(i)) kept.push_back(i);
  }
  json out{{"kind", kind}, {"id", selfLink}, {"selfLink", selfLink}};
  json page = json::array();
  for (size_t k = from; k < kept.size() && page.size() < max; ++k) page.push_back(kept[k]);
  if (!page.empty()) out["items"] = page;
  if (from + page.size() < kept.size()) out["nextPageToken"] = std::to_string(from + page.size());
  return out;
}

json aggregatedPage(const std::vector<std::pair<std::string, std::vector<json>>>& scopes,
                    const std::string& collection, const Query& q, const std::string& kind,
                    const std::string& selfLink) {
  Filter f = Filter::parse(q.count("filter") ? q.at("filter") : "");
  size_t max = number(q, "maxResults", 500, 500), from = number(q, "pageToken", 0, 1u << 30);
  if (max == 0) max = 500;
  size_t seen = 0, taken = 0;
  bool more = false;
  json items = json::object();
  for (const auto& [scope, list] : scopes) {
    json kept = json::array();
    for (const auto& i : list) {
      if (!f.matches(i)) continue;
      if (seen++ < from) continue;
      if (taken == max) {
        more = true;
        break;
      }
      kept.push_back(i);
      ++taken;
    }
    if (!kept.empty()) {
      items[scope] = {{collection, kept}};
    } else if (from == 0 && !more) {
      json warning{{"code", "NO_RESULTS_ON_PAGE"},
                   {"message", "There are no results for scope '" + scope + "' on this page."},
                   {"data", json::array({json{{"key", "scope"}, {"value", scope}}})}};
      items[scope] = json{{"warning", warning}};
    }
    if (more) break;
  }
  json out{{"kind", kind}, {"id", selfLink}, {"items", items}, {"selfLink", selfLink}};
  if (more) out["nextPageToken"] = std::to_string(from + taken);
  return out;
}

}  // namespace vpcd::gce
