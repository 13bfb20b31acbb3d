#include "core/config.h"

#include <cstdlib>
#include <filesystem>

#include "core/encoding.h"
#include "core/time.h"

namespace cg::core {

std::string Problem::to_string() const {
  std::string s = path + ": ";
  s += found.empty() ? "missing" : "found '" + found + "'";
  if (!allowed.empty()) s += "; " + allowed;
  return s;
}

void Problems::add(std::string path, std::string found, std::string allowed) {
  // Two parts may read the same key (public_url): one problem per path and value.
  for (const auto& p : list_) {
    if (p.path == path && p.found == found) return;
  }
  list_.push_back({std::move(path), std::move(found), std::move(allowed)});
}

void Problems::note_path(std::string path, std::string resolved) {
  for (const auto& r : paths_) {
    if (r.path == path) return;
  }
  paths_.push_back({std::move(path), std::move(resolved)});
}

std::string Problems::to_string() const {
  std::string out;
  for (const auto& p : list_) out += p.to_string() + "\n";
  return out;
}

std::optional<std::string> expand_env(const std::string& text, const std::string& path,
                                      Problems& p) {
  std::string out;
  bool ok = true;
  size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    size_t close = text.find('}', i + 2);
    std::string inner = close == std::string::npos ? "" : text.substr(i + 2, close - i - 2);
    size_t dflt = inner.find(":-");
    std::string name = inner.substr(0, dflt);
    bool good = close != std::string::npos && !name.empty() &&
                !(name[0] >= '0' && name[0] <= '9') &&
                name.find_first_not_of(
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                    "0123456789_") == std::string::npos;
    if (!good) {
      p.add(path, clip(text.substr(i, close == std::string::npos ? 40 : close - i + 1), 40),
            "${NAME} or ${NAME:-default} with NAME of letters, digits and _ (write $${ for a "
            "literal ${)");
      return std::nullopt;
    }
    const char* v = std::getenv(name.c_str());
    if (dflt != std::string::npos && (!v || !*v)) {
      out += inner.substr(dflt + 2);
    } else if (v) {
      out += v;
    } else {
      p.add(path, "${" + name + "}",
            "the environment variable " + name + " is not set (set it, or write ${" + name +
                ":-default})");
      ok = false;
    }
    i = close + 1;
  }
  if (!ok) return std::nullopt;
  return out;
}

namespace {

// Expands every scalar value under `n` (keys stay as written); `path` as Problems name it.
void expand_tree(YAML::Node n, const std::string& path, Problems& p) {
  if (n.IsScalar()) {
    const std::string& v = n.Scalar();
    if (v.find("${") == std::string::npos) return;
    if (auto e = expand_env(v, path, p); e && *e != v) n = *e;
  } else if (n.IsMap()) {
    for (auto kv : n) {
      std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      expand_tree(kv.second, path.empty() ? k : path + "." + k, p);
    }
  } else if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) {
      expand_tree(n[i], path + "[" + std::to_string(i) + "]", p);
    }
  }
}

}  // namespace

std::optional<YAML::Node> load_yaml(const std::string& path, Problems& problems) {
  auto text = read_file(path, 4u << 20);
  if (!text) {
    problems.add("(file)", path, text.error().message);
    return std::nullopt;
  }
  try {
    YAML::Node n = YAML::Load(*text);
    if (!n.IsMap()) {
      problems.add("(file)", path, "the top level must be a mapping of settings");
      return std::nullopt;
    }
    expand_tree(n, "", problems);
    return n;
  } catch (const YAML::Exception& e) {
    problems.add("(file)", path,
                 "YAML syntax error at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
    return std::nullopt;
  }
}

std::string get_string(const YAML::Node& map, const std::string& key, const std::string& path,
                       Problems& p, bool required, const std::string& fallback) {
  YAML::Node n = map[key];
  std::string full = path.empty() ? key : path + "." + key;
  if (!n || n.IsNull()) {
    if (required) p.add(full, "", "required");
    return fallback;
  }
  if (!n.IsScalar()) {
    p.add(full, "a " + std::string(n.IsMap() ? "mapping" : "list"), "a string is expected");
    return fallback;
  }
  return n.as<std::string>();
}

bool get_bool(const YAML::Node& map, const std::string& key, const std::string& path, Problems& p,
              bool fallback) {
  YAML::Node n = map[key];
  if (!n || n.IsNull()) return fallback;
  std::string v = n.IsScalar() ? n.as<std::string>() : "(not a scalar)";
  if (v == "true" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "no" || v == "off") return false;
  p.add(path.empty() ? key : path + "." + key, v, "true or false");
  return fallback;
}

std::chrono::milliseconds get_duration_ms(const YAML::Node& map, const std::string& key,
                                          const std::string& path, Problems& p,
                                          std::chrono::milliseconds fallback) {
  std::string v = get_string(map, key, path, p, false);
  if (v.empty()) return fallback;
  auto d = parse_duration_ms(v);
  if (!d) {
    bool bare = v.find_first_not_of("0123456789") == std::string::npos;
    p.add(path.empty() ? key : path + "." + key, v,
          bare ? "a duration needs a unit; write " + v + "s, " + v + "m or " + v + "h (e.g. " + v +
                     "m)"
               : "a duration such as 250ms, 180s, 5m, 8h or 30d");
    return fallback;
  }
  return *d;
}

std::chrono::seconds get_duration(const YAML::Node& map, const std::string& key,
                                  const std::string& path, Problems& p,
                                  std::chrono::seconds fallback) {
  return std::chrono::duration_cast<std::chrono::seconds>(get_duration_ms(
      map, key, path, p, std::chrono::duration_cast<std::chrono::milliseconds>(fallback)));
}

uint64_t get_uint(const YAML::Node& map, const std::string& key, const std::string& path,
                  Problems& p, uint64_t fallback, uint64_t min, uint64_t max) {
  std::string v = get_string(map, key, path, p, false);
  if (v.empty()) return fallback;
  uint64_t n = 0;
  bool ok = v.size() <= 19;
  for (char c : v) {
    ok = ok && c >= '0' && c <= '9';
    if (ok) n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  if (!ok || n < min || n > max) {
    p.add(path.empty() ? key : path + "." + key, v,
          "a whole number from " + std::to_string(min) + " to " + std::to_string(max));
    return fallback;
  }
  return n;
}

uint64_t get_size(const YAML::Node& map, const std::string& key, const std::string& path,
                  Problems& p, uint64_t fallback) {
  std::string v = get_string(map, key, path, p, false);
  if (v.empty()) return fallback;
  size_t digits = 0;
  uint64_t n = 0;
  while (digits < v.size() && digits < 15 && v[digits] >= '0' && v[digits] <= '9') {
    n = n * 10 + static_cast<uint64_t>(v[digits++] - '0');
  }
  std::string unit = v.substr(digits);
  uint64_t mult = unit.empty() || unit == "B" ? 1
                  : unit == "KiB"             ? 1024
                  : unit == "MiB"             ? 1 << 20
                  : unit == "GiB"             ? uint64_t{1} << 30
                                              : 0;
  if (digits == 0 || mult == 0) {
    p.add(path.empty() ? key : path + "." + key, v, "a size such as 65536, 64KiB, 1MiB or 2GiB");
    return fallback;
  }
  return n * mult;
}

std::vector<std::string> get_string_list(const YAML::Node& map, const std::string& key,
                                         const std::string& path, Problems& p) {
  YAML::Node n = map[key];
  std::string full = path.empty() ? key : path + "." + key;
  std::vector<std::string> out;
  if (!n || n.IsNull()) return out;
  if (n.IsScalar()) return {n.as<std::string>()};
  if (!n.IsSequence()) {
    p.add(full, "a mapping", "a list of strings");
    return out;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar()) {
      p.add(full + "[" + std::to_string(i) + "]", "not a string", "a string");
      continue;
    }
    out.push_back(n[i].as<std::string>());
  }
  return out;
}

void reject_unknown_keys(const YAML::Node& map, const std::string& path,
                         std::initializer_list<const char*> known, Problems& p) {
  if (!map.IsMap()) return;
  for (const auto& kv : map) {
    std::string k = kv.first.as<std::string>();
    bool ok = false;
    for (const char* x : known) ok = ok || k == x;
    if (!ok) {
      std::string allowed = "unknown key; allowed here:";
      for (const char* x : known) allowed += std::string(" ") + x;
      p.add(path.empty() ? k : path + "." + k, k, allowed);
    }
  }
}

std::string config_dir(const std::string& config_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path abs = fs::absolute(fs::path(config_path), ec);
  if (ec) abs = fs::path(config_path);
  return abs.lexically_normal().parent_path().string();
}

std::string resolve_path(const std::string& base_dir, const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) return path;
  fs::path p(path);
  if (p.is_relative()) {
    std::error_code ec;
    fs::path base = base_dir.empty() ? fs::current_path(ec) : fs::path(base_dir);
    p = base / p;
  }
  std::string out = p.lexically_normal().string();
  // "dir/" (lexically_normal keeps a trailing separator) names the same directory as "dir".
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string get_secret(const YAML::Node& map, const std::string& key, const std::string& path,
                       Problems& p, const std::string& base_dir, bool required,
                       const std::string& fallback_env) {
  std::string full = path.empty() ? key : path + "." + key;
  if (map[key]) {
    p.add(full, "(a secret, not shown)",
          "not in the config itself: " + key + "_file (a file) or " + key +
              "_env (an environment variable) names where it is");
    return "";
  }
  bool has_file = map[key + "_file"] && !map[key + "_file"].IsNull();
  bool has_env = map[key + "_env"] && !map[key + "_env"].IsNull();
  if (has_file && has_env) {
    p.add(full + "_file", "both " + key + "_file and " + key + "_env", "one of them");
    return "";
  }
  std::string secret;
  if (has_file) {
    std::string file = get_path(map, key + "_file", path, p, base_dir, true);
    if (file.empty()) return "";
    auto text = read_file(file, 4096);
    if (!text) {
      p.add(full + "_file", file,
            "a readable file holding the secret (" + text.error().message + ")");
      return "";
    }
    secret = text->substr(0, text->find('\n'));
    while (!secret.empty() &&
           (secret.back() == '\r' || secret.back() == ' ' || secret.back() == '\t'))
      secret.pop_back();
    if (secret.empty()) p.add(full + "_file", file, "a file whose first line holds the secret");
    return secret;
  }
  std::string var = has_env ? get_string(map, key + "_env", path, p, true) : fallback_env;
  if (var.empty()) {
    if (required) {
      p.add(full + "_file", "",
            "required: " + key + "_file (a file) or " + key + "_env (an environment variable)" +
                (fallback_env.empty() ? "" : ", or $" + fallback_env));
    }
    return "";
  }
  const char* v = std::getenv(var.c_str());
  if (!v || !*v) {
    if (has_env) {
      p.add(full + "_env", var, "the name of an environment variable that is set and not empty");
    } else if (required) {
      p.add(full + "_file", "",
            "required: " + key + "_file (a file) or " + key +
                "_env (an environment variable), "
                "or $" +
                fallback_env);
    }
    return "";
  }
  return v;
}

std::string get_path(const YAML::Node& map, const std::string& key, const std::string& path,
                     Problems& p, const std::string& base_dir, bool required,
                     const std::string& fallback) {
  std::string v = resolve_path(base_dir, get_string(map, key, path, p, required, fallback));
  if (!v.empty()) p.note_path(path.empty() ? key : path + "." + key, v);
  return v;
}

}  // namespace cg::core
