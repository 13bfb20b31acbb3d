// Who a job runs as. A job is code a person submitted: it must never run with the gateway's
// Unix identity, which can read the keyring, the state and the audit log (docs/jobs.md,
// "Isolation"). The config names one unprivileged account (jobs.run_as), a mapping from the
// submitter to their own account (jobs.run_as_map), or, for development only, allows the
// gateway's own user (jobs.insecure_same_user).
//
// Switching to an account needs root or CAP_SETUID and CAP_SETGID; the switch (become) is
// done in the child after fork, every step checked, and it verifies that the old identity
// cannot be regained before anything of the job runs.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace cg::jobs {

struct Account {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (the account's, from the group database)
  std::string home;
};

// Looks the account up by name (or by number, "1234"); refuses an unknown one.
Result<Account> lookup_account(std::string_view name);

// Whether this process may switch uid and gid (euid 0, or CAP_SETUID and CAP_SETGID).
bool can_switch_accounts();

// Switches this process to `a` for good: setgroups, setresgid, setresuid, each checked, then
// checks that every id is the account's and that neither root nor the old uid can be taken
// back. Only async-signal-safe calls: meant for the child between fork and exec. Returns
// nullptr, or what failed (a static string).
const char* become(const Account& a);

// The accounts jobs run as, from the config. Built by make_account_policy, which refuses a
// config whose jobs would run as the gateway's user or as root.
struct AccountPolicy {
  std::optional<Account> run_as;              // jobs.run_as: everyone not in the map
  std::map<std::string, Account> by_subject;  // jobs.run_as_map: subject -> their account
  bool same_user = false;                     // jobs.insecure_same_user (development only)

  // The account for a job of `subject`; nullopt with same_user (no switch).
  Result<std::optional<Account>> for_subject(std::string_view subject) const;
  // "as claimgate-job (uid 999)", "as each person's account (3 mapped), others as ...", ...
  std::string describe() const;
};

// `run_as` may be empty; `map` subject -> account name. Refuses (jobs.run_as, one sentence
// saying what to set): no account configured without insecure_same_user; an account that is
// root or this process's uid; an unknown account; a process that cannot switch users.
Result<AccountPolicy> make_account_policy(const std::string& run_as,
                                          const std::map<std::string, std::string>& map,
                                          bool insecure_same_user);

}  // namespace cg::jobs
