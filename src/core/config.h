// Config problems, collected all at once: each with its YAML path, the value found and what
// is allowed (oauth2-proxy's pkg/validation). Parts compile their own sections with these.
#pragma once

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace cg::core {

struct Problem {
  std::string path;     // "saml.sp.entity_id"
  std::string found;    // what the file holds ("" when missing)
  std::string allowed;  // what would be accepted
  std::string to_string() const;
};

class Problems {
 public:
  void add(std::string path, std::string found, std::string allowed);
  bool empty() const { return list_.empty(); }
  const std::vector<Problem>& list() const { return list_; }
  std::string to_string() const;  // one problem a line

  // Every path a config names, as resolved (get_path), so that `check` can print them.
  struct ResolvedPath {
    std::string path;      // "jobs.state_dir"
    std::string resolved;  // absolute
  };
  void note_path(std::string path, std::string resolved);
  const std::vector<ResolvedPath>& paths() const { return paths_; }

 private:
  std::vector<Problem> list_;
  std::vector<ResolvedPath> paths_;
};

// Reads a YAML file (size-limited); a syntax error becomes a Problem at path "(file)". Every
// scalar value (never a key) then has its ${VAR} references expanded (expand_env), once.
std::optional<YAML::Node> load_yaml(const std::string& path, Problems& problems);

// `${NAME}` -> $NAME, `${NAME:-default}` -> $NAME or, unset or empty, `default` (as written);
// `$${` -> a literal `${`; any other `$` stays. What a variable holds is not expanded again.
// An unset variable (without a default), an unclosed `${` or a bad name is a Problem at `path`
// naming the reference (never the value); nullopt then.
std::optional<std::string> expand_env(const std::string& text, const std::string& path,
                                      Problems& p);

// The one secret reader. A secret setting `key` (store.password, ...) is never written in the
// config (often world-readable): it comes from `<key>_file` (a file, its first line, trailing
// blanks cut; resolved like every path) or `<key>_env` (the name of an environment variable),
// or, with neither, from $`fallback_env` when that is set and not empty. `<key>` itself, a
// missing file, an unset variable or an empty secret are Problems naming the YAML path and the
// file or variable, never the secret. "" when there is none and it is not `required`.
std::string get_secret(const YAML::Node& map, const std::string& key, const std::string& path,
                       Problems& p, const std::string& base_dir, bool required,
                       const std::string& fallback_env = "");

// Typed readers: a missing optional key gives `fallback`; a wrong type adds a Problem.
std::string get_string(const YAML::Node& map, const std::string& key, const std::string& path,
                       Problems& p, bool required, const std::string& fallback = "");
bool get_bool(const YAML::Node& map, const std::string& key, const std::string& path, Problems& p,
              bool fallback);
std::chrono::seconds get_duration(const YAML::Node& map, const std::string& key,
                                  const std::string& path, Problems& p,
                                  std::chrono::seconds fallback);
std::chrono::milliseconds get_duration_ms(const YAML::Node& map, const std::string& key,
                                          const std::string& path, Problems& p,
                                          std::chrono::milliseconds fallback);
// A whole number in [min, max].
uint64_t get_uint(const YAML::Node& map, const std::string& key, const std::string& path,
                  Problems& p, uint64_t fallback, uint64_t min, uint64_t max);
// A size in bytes: 65536, 64KiB, 1MiB, 2GiB.
uint64_t get_size(const YAML::Node& map, const std::string& key, const std::string& path,
                  Problems& p, uint64_t fallback);
// A list of strings (a single string is a list of one).
std::vector<std::string> get_string_list(const YAML::Node& map, const std::string& key,
                                         const std::string& path, Problems& p);
// Adds a Problem for every key of `map` not in `known`.
void reject_unknown_keys(const YAML::Node& map, const std::string& path,
                         std::initializer_list<const char*> known, Problems& p);
// The directory relative paths of the config file `config_path` resolve against: the file's own
// directory, absolute (`serve --config claimgate.yaml` gives the working directory, never "").
std::string config_dir(const std::string& config_path);
// The one path resolver: a relative `path` is taken against `base_dir` (config_dir()), an
// absolute one stays; both come back lexically normal ("a/./b" -> "a/b"). "" stays "".
std::string resolve_path(const std::string& base_dir, const std::string& path);
// A path setting: the string at `key` (or `fallback` when missing), resolved against `base_dir`
// and noted in `p` under its YAML path for `check`. "" when missing with no fallback.
std::string get_path(const YAML::Node& map, const std::string& key, const std::string& path,
                     Problems& p, const std::string& base_dir, bool required,
                     const std::string& fallback = "");

}  // namespace cg::core
