// The policy's parsers on hostile input: request paths (normalisation must be idempotent and
// leave no dot segment, empty segment or encoded separator behind) and policy documents
// (compile never throws; whatever compiles decides without crashing). Input: a method line, a
// path line, then a YAML policy. Regular-expression bindings are skipped: their patterns come
// from the operator's config, and a pathological pattern is slow by design of std::regex.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "policy/path.h"
#include "policy/policy.h"

using namespace cg;

namespace {

void check_normalised(std::string_view p) {
  if (p.empty() || p[0] != '/') std::abort();
  if (p.find("//") != std::string_view::npos) std::abort();
  if (p.find('\\') != std::string_view::npos) std::abort();
  policy::for_each_segment(p, [](std::string_view s) {
    if (s == "." || s == "..") std::abort();
  });
  for (size_t i = 0; i + 2 < p.size(); ++i) {
    if (p[i] != '%') continue;
    std::string h{p.substr(i + 1, 2)};
    if (h == "2F" || h == "2f" || h == "5C" || h == "5c" || h == "2E" || h == "2e") std::abort();
  }
  auto again = policy::normalize_path(p);
  if (!again || *again != p) std::abort();  // idempotent
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t a = in.find('\n');
  if (a == std::string_view::npos) return 0;
  size_t b = in.find('\n', a + 1);
  if (b == std::string_view::npos) return 0;
  std::string method(in.substr(0, a));
  std::string_view raw_path = in.substr(a + 1, b - a - 1);
  std::string_view yaml = in.substr(b + 1);

  auto path = policy::normalize_path(raw_path);
  if (path) check_normalised(*path);

  if (yaml.find("matches") != std::string_view::npos) return 0;
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception&) {
    return 0;
  }
  core::Problems problems;
  std::vector<std::string> warnings;
  auto pol = policy::Policy::compile(doc, problems, warnings);  // must not throw
  if (!pol) return 0;
  session::Session s;
  s.id = "fuzz";
  s.claims.push_back({"groups", "groups", {"ml-a-ds", "viewers", "admins", std::string(raw_path)}});
  s.claims.push_back({"email", "email", {"a@example.org"}});
  auto grants = pol->grants_for(s);
  std::string p = path ? *path : "/";
  auto d = pol->decide(method, p, &grants);
  auto anon = pol->decide(method, p, nullptr);
  if (d.allowed() && d.reason == cg::policy::Reason::kNone) std::abort();
  if (anon.allowed() && anon.reason != cg::policy::Reason::kPublic)
    std::abort();  // only public rules admit everyone
  (void)pol->match(method, p);
  return 0;
}
