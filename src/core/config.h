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

 private:
  std::vector<Problem> list_;
};

// Reads a YAML file (size-limited); a syntax error becomes a Problem at path "(file)".
std::optional<YAML::Node> load_yaml(const std::string& path, Problems& problems);

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
// Resolves a file path relative to the config file's directory.
std::string resolve_path(const std::string& base_dir, const std::string& path);

}  // namespace cg::core
