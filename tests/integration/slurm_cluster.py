"""A real single-machine Slurm cluster for tests: munged, slurmctld and slurmd (Debian's
slurm-wlm 22.05) in a temporary directory, on ports chosen at run time, talking over loopback
(slurmd binds 127.0.0.1 with CommunicationParameters=NoInAddrAny; slurmctld 22.05 has no bind
setting and listens on every address of this machine, on its random port, and only answers
munge-authenticated messages). Accounting is off, so sacct has nothing and the executor reads
the exit status claimgate exec leaves in the job's directory.

Jobs run as another account (sbatch --uid, jobs.run_as), as on a real cluster, so what that
account needs is laid out as on one: slurmd's spool (where slurmstepd writes the batch script
the job executes, owned by the account) is passable and readable (/var/spool/slurmd is 0755),
and munged's socket lies in a directory of its own that every user reaches (/run/munge is
0755): srun in the batch script runs as the account and authenticates through it. The key,
munged's log and pid stay in a 0700 directory; slurmctld's state stays root's."""
import os
import pathlib
import subprocess
import time

from demo_stack import free_port


class SlurmCluster:
    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        for d in ("munge", "munge-run", "state", "spool", "log"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        # pytest's temporary directories are 0700: the job's account must pass through to
        # the spool and the munge socket (o+x, not o+r: it cannot list them).
        for d in [self.dir, *self.dir.parents]:
            mode = d.stat().st_mode & 0o7777
            if not mode & 0o001:
                d.chmod(mode | 0o011)
        (self.dir / "munge").chmod(0o700)
        (self.dir / "munge-run").chmod(0o755)
        (self.dir / "spool").chmod(0o755)
        (self.dir / "state").chmod(0o700)
        key = self.dir / "munge" / "munge.key"
        subprocess.run(["/usr/sbin/mungekey", "-c", "-k", str(key), "-b", "1024"], check=True,
                       capture_output=True)
        self.sock = self.dir / "munge-run" / "sock"
        subprocess.run(["/usr/sbin/munged", f"--key-file={key}", f"--socket={self.sock}",
                        f"--pid-file={self.dir / 'munge' / 'pid'}", f"--log-file={self.dir / 'munge' / 'log'}",
                        f"--seed-file={self.dir / 'munge' / 'seed'}", "--force"], check=True, capture_output=True)
        self.conf = self.dir / "slurm.conf"
        d = self.dir
        self.conf.write_text(f"""ClusterName=claimgate-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.sock}
CredType=cred/munge
CommunicationParameters=NoInAddrAny
StateSaveLocation={d / 'state'}
SlurmdSpoolDir={d / 'spool'}
SlurmctldPidFile={d / 'slurmctld.pid'}
SlurmdPidFile={d / 'slurmd.pid'}
SlurmctldLogFile={d / 'log' / 'slurmctld.log'}
SlurmdLogFile={d / 'log' / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
KillWait=5
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
""")
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        subprocess.run(["/usr/sbin/slurmctld", "-i"], check=True, env=self.env, capture_output=True)
        subprocess.run(["/usr/sbin/slurmd", "-N", "localhost"], check=True, env=self.env, capture_output=True)
        deadline = time.monotonic() + 60
        while True:
            out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip() == "idle":
                break
            if time.monotonic() > deadline:
                raise RuntimeError("Slurm did not come up:\n" + out.stdout + out.stderr + self.logs())
            time.sleep(0.2)

    def logs(self):
        return "".join((self.dir / "log" / f).read_text(errors="replace")[-3000:]
                       for f in ("slurmctld.log", "slurmd.log") if (self.dir / "log" / f).exists())

    def stop(self):
        subprocess.run(["scontrol", "shutdown"], env=self.env, capture_output=True)
        for pidfile in ("slurmctld.pid", "slurmd.pid", "munge/pid"):
            p = self.dir / pidfile
            deadline = time.monotonic() + 15
            while p.exists() and time.monotonic() < deadline:
                try:
                    pid = int(p.read_text().strip())
                    os.kill(pid, 0)
                except (ValueError, ProcessLookupError, FileNotFoundError):
                    break
                if pidfile == "munge/pid" or time.monotonic() > deadline - 10:
                    os.kill(pid, 15)
                time.sleep(0.2)
