#include "jobs/run_as.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "jobs/errors.h"

namespace cg::jobs {
namespace {

constexpr int kCapChown = 0;
constexpr int kCapSetgid = 6;
constexpr int kCapSetuid = 7;

// The effective capability set of this process (from /proc/self/status).
uint64_t effective_caps() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.starts_with("CapEff:")) return std::strtoull(line.c_str() + 7, nullptr, 16);
  }
  return 0;
}

std::string who(const Account& a) { return a.name + " (uid " + std::to_string(a.uid) + ")"; }

// Refuses an account a job must not run as: root, or the gateway's own uid.
Status usable(const Account& a, std::string_view field) {
  if (a.uid == 0 || a.gid == 0) {
    return fail(Code::kRunAs, std::string(field) + ": " + who(a) +
                                  " is root (uid or gid 0); jobs must run as an unprivileged "
                                  "account that cannot read the gateway's files");
  }
  if (a.uid == ::geteuid()) {
    return fail(Code::kRunAs,
                std::string(field) + ": " + who(a) +
                    " is the gateway's own user, whose jobs could read its keyring, state and "
                    "audit log; name another, unprivileged account (useradd --system "
                    "claimgate-job)");
  }
  return {};
}

}  // namespace

Result<Account> lookup_account(std::string_view name) {
  std::string n(name);
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::string buf(size > 0 ? static_cast<size_t>(size) : 16384, '\0');
  passwd pw{}, *found = nullptr;
  int rc = ::getpwnam_r(n.c_str(), &pw, buf.data(), buf.size(), &found);
  if (!found && !n.empty() && n.find_first_not_of("0123456789") == std::string::npos) {
    rc = ::getpwuid_r(static_cast<uid_t>(std::strtoul(n.c_str(), nullptr, 10)), &pw, buf.data(),
                      buf.size(), &found);
  }
  if (!found) {
    return fail(Code::kRunAs, "there is no Unix account '" + n + "' on this machine" +
                                  (rc ? std::string(" (") + std::strerror(rc) + ")" : "") +
                                  " (create it: useradd --system --no-create-home " + n + ")");
  }
  Account a;
  a.name = pw.pw_name;
  a.uid = pw.pw_uid;
  a.gid = pw.pw_gid;
  a.home = pw.pw_dir ? pw.pw_dir : "";
  int ngroups = 64;
  std::vector<gid_t> groups(static_cast<size_t>(ngroups));
  if (::getgrouplist(a.name.c_str(), a.gid, groups.data(), &ngroups) < 0) {
    groups.resize(static_cast<size_t>(ngroups));
    if (::getgrouplist(a.name.c_str(), a.gid, groups.data(), &ngroups) < 0) ngroups = 0;
  }
  groups.resize(static_cast<size_t>(std::max(ngroups, 0)));
  if (groups.empty()) groups.push_back(a.gid);
  a.groups = std::move(groups);
  return a;
}

bool can_switch_accounts() {
  if (::geteuid() == 0) return true;
  uint64_t caps = effective_caps();
  auto has = [&](int c) { return (caps >> c) & 1U; };
  return has(kCapSetuid) && has(kCapSetgid) && has(kCapChown);
}

const char* become(const Account& a) {
  uid_t old_uid = ::geteuid();
  if (::setgroups(a.groups.size(), a.groups.data()) != 0) return "setgroups failed";
  if (::setresgid(a.gid, a.gid, a.gid) != 0) return "setresgid failed";
  // No ambient capability is carried into the job's exec (a gateway run as a non-root user
  // with CAP_SETUID/CAP_SETGID/CAP_CHOWN hands them on otherwise).
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return "clearing the ambient capabilities failed";
  }
  if (::setresuid(a.uid, a.uid, a.uid) != 0) return "setresuid failed";
  // From root, the uid change cleared every capability; from a non-root gateway holding some,
  // they survive it (capabilities(7)): drop them all.
  if (old_uid != 0) {
    __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct none[2] = {};
    if (::syscall(SYS_capset, &hdr, none) != 0) return "dropping the capabilities failed";
  }
  uid_t r = 0, e = 0, s = 0;
  gid_t rg = 0, eg = 0, sg = 0;
  if (::getresuid(&r, &e, &s) != 0 || r != a.uid || e != a.uid || s != a.uid) {
    return "the user ids did not all change";
  }
  if (::getresgid(&rg, &eg, &sg) != 0 || rg != a.gid || eg != a.gid || sg != a.gid) {
    return "the group ids did not all change";
  }
  // Neither root nor the gateway's uid can be taken back.
  if (a.uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0)) return "root could be regained";
  if (old_uid != a.uid && (::setuid(old_uid) == 0 || ::seteuid(old_uid) == 0)) {
    return "the gateway's uid could be regained";
  }
  if (a.gid != 0 && (::setgid(0) == 0 || ::setegid(0) == 0)) return "gid 0 could be regained";
  gid_t now[256];
  int n = ::getgroups(256, now);
  if (n < 0) return "getgroups failed";
  for (int i = 0; i < n; ++i) {
    bool listed = now[i] == a.gid;
    for (gid_t g : a.groups) listed = listed || g == now[i];
    if (!listed) return "a supplementary group of the gateway was kept";
  }
  return nullptr;
}

Result<std::optional<Account>> AccountPolicy::for_subject(std::string_view subject) const {
  if (auto it = by_subject.find(std::string(subject)); it != by_subject.end()) {
    return std::optional<Account>(it->second);
  }
  if (run_as) return std::optional<Account>(*run_as);
  if (same_user) return std::optional<Account>();
  return fail(Code::kRunAs, "there is no account for jobs of " + std::string(subject) +
                                " (not in jobs.run_as_map, and jobs.run_as is not set)");
}

std::string AccountPolicy::describe() const {
  std::string out;
  if (!by_subject.empty()) {
    out = "as the submitter's own account (" + std::to_string(by_subject.size()) +
          " mapped in jobs.run_as_map)";
    out += run_as ? ", others as " + who(*run_as)
           : same_user ? ", others as the gateway's own user (jobs.insecure_same_user)"
                       : ", others refused";
    return out;
  }
  if (run_as) return "as " + who(*run_as) + " (jobs.run_as)";
  return "as the gateway's own user (jobs.insecure_same_user: INSECURE, jobs can read the "
         "gateway's keyring, state and audit log)";
}

Result<AccountPolicy> make_account_policy(const std::string& run_as,
                                          const std::map<std::string, std::string>& map,
                                          bool insecure_same_user) {
  AccountPolicy p;
  p.same_user = insecure_same_user;
  if (run_as.empty() && map.empty()) {
    if (insecure_same_user) return p;
    return fail(Code::kRunAs,
                "jobs would run as the gateway's own user (uid " + std::to_string(::geteuid()) +
                    "), and could read its keyring, state and audit log: set jobs.run_as to an "
                    "unprivileged account (useradd --system claimgate-job), or jobs.run_as_map to "
                    "map each submitter to their own account (jobs.insecure_same_user: true "
                    "allows it for development only)");
  }
  if (!can_switch_accounts()) {
    return fail(Code::kRunAs, "jobs.run_as / jobs.run_as_map: the gateway runs as uid " +
                                  std::to_string(::geteuid()) +
                                  " without CAP_SETUID, CAP_SETGID and CAP_CHOWN, so it cannot "
                                  "start jobs as another account; start it as root (it keeps "
                                  "root only to start jobs) or grant those capabilities "
                                  "(systemd: AmbientCapabilities=CAP_SETUID CAP_SETGID "
                                  "CAP_CHOWN)");
  }
  if (!run_as.empty()) {
    auto a = lookup_account(run_as);
    if (!a) return fail(Code::kRunAs, "jobs.run_as: " + a.error().message);
    CG_CHECK(usable(*a, "jobs.run_as"));
    p.run_as = std::move(*a);
  }
  for (const auto& [subject, name] : map) {
    auto a = lookup_account(name);
    if (!a) return fail(Code::kRunAs, "jobs.run_as_map." + subject + ": " + a.error().message);
    CG_CHECK(usable(*a, "jobs.run_as_map." + subject));
    p.by_subject[subject] = std::move(*a);
  }
  return p;
}

}  // namespace cg::jobs
