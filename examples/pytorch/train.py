"""A small PyTorch training run on synthetic data, for claimgate's jobs service.

Launched with torchrun through `claimgate exec` (which verified the job's token first):

    POST /api/projects/vision/jobs
    {"command": ["torchrun", "--rdzv_backend=c10d", "--rdzv_endpoint=localhost:0", "--nproc_per_node=2", "--redirects", "1", "--tee", "1",
                 "train.py", "--epochs", "3"],
     "workdir": "/path/to/examples/pytorch", "procs_per_node": 2,
     "env": {"PYTHONPATH": "/path/to/claimgate/python"}}

(`--redirects 1 --tee 1`: Debian 12's torchrun 1.13 under Python 3.11 cannot parse its default
"0" for these two options; with them rank output still reaches the job's log.)

Each process trains a copy of a linear model with DistributedDataParallel (gloo on CPU, NCCL
when GPUs are there) on its shard of y = 3x - 2 + noise; rank 0 prints the job's identity, the
loss per epoch and the learned weights, which approach 3 and -2. Before it trains, every process
has the gateway check the job's current token (verify_identity: `rank 1/2: job ... verified`).

Without PyTorch (the quick start installs none), `python3 train.py` trains the same model with
the same mini-batch SGD in plain Python, one process, and prints the same lines; `--backend
python` chooses that loop even where PyTorch is installed.

It submits itself through the claimgate Python package (`pip install ./python`, docs/python.md),
with the login of `claimgate login` or claimgate.login():

    python3 train.py --submit --project vision [--gateway URL] [--nproc 2] [--epochs 3]

submits `python3 -m torch.distributed.run --rdzv_backend=c10d --rdzv_endpoint=localhost:0 --nproc_per_node=2 ... train.py --epochs 3`
(torchrun, run by this interpreter, so the job's processes import claimgate from where this one
does; the plain loop `python3 train.py` without PyTorch or with --backend python) as a job in the
project, working directory this script's, follows its log, and exits with the job's exit code.
As a job, rank 0 prints what job_identity() says: the job, its project and submitter, and when
the job's current token expires (claimgate exec renews it while the job runs).
"""
import argparse
import datetime
import importlib.util
import os
import random
import sys
import time

from claimgate import job_identity


def print_identity(world):
    me = job_identity()
    print(f"job {me.job_id} project {me.project} submitter {me.submitter} "
          f"pool {me.node_pool} world_size {world}", flush=True)
    exp, now = me.expires(), int(time.time())
    when = datetime.datetime.fromtimestamp(exp, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"job token expires {when} (in {exp - now} s; checked at {now}, expires {exp})", flush=True)


def submit(args):
    """This script as a job: through torchrun when PyTorch is here (and not --backend python),
    otherwise the plain loop; its log followed to the end. Returns the job's exit code."""
    import claimgate
    here = os.path.dirname(os.path.abspath(__file__))
    train = ["train.py", "--epochs", str(args.epochs), "--samples", str(args.samples)]
    torch = args.backend != "python" and importlib.util.find_spec("torch") is not None
    if torch:
        command = [args.python, "-m", "torch.distributed.run", "--rdzv_backend=c10d", "--rdzv_endpoint=localhost:0", f"--nproc_per_node={args.nproc}",
                   "--redirects", "1", "--tee", "1", *train, "--backend", "torch"]
    else:
        command = [args.python, *train, "--backend", "python"]
    jobs = claimgate.Jobs(args.gateway, project=args.project)
    job = jobs.submit(command, name="train.py", workdir=here, procs_per_node=args.nproc if torch else 1,
                      max_runtime=args.max_runtime)
    print(f"submitted job {job.id} in project {job.project} as {job.submitter}: {' '.join(command)}", flush=True)
    for line in jobs.logs(job, follow=True, timeout=600):
        sys.stdout.write("    | " + line)
        sys.stdout.flush()
    done = jobs.wait(job, poll=0.2)
    print(f"job {done.id} {done.state} (exit code {done.exit_code})", flush=True)
    return done.exit_code if done.exit_code is not None else 1


def train_plain(args):
    """y = 3x - 2 + noise, fitted by mini-batch SGD on the mean squared error, no libraries."""
    if "WORLD_SIZE" in os.environ and os.environ["WORLD_SIZE"] != "1":
        raise SystemExit("train.py: several processes need PyTorch (apt-get install python3-torch)")
    print_identity(1)
    print("training with the plain-Python loop (PyTorch is not used)", flush=True)
    gen = random.Random(1234)
    xs = [gen.random() * 4 - 2 for _ in range(args.samples)]
    data = [(x, 3 * x - 2 + 0.05 * gen.gauss(0, 1)) for x in xs]
    w, b, lr = gen.uniform(-1, 1), 0.0, 0.1
    for epoch in range(args.epochs):
        for i in range(0, len(data), 64):
            batch = data[i:i + 64]
            errors = [(w * x + b - y, x) for x, y in batch]
            loss = sum(e * e for e, _ in errors) / len(batch)
            w -= lr * 2 * sum(e * x for e, x in errors) / len(batch)
            b -= lr * 2 * sum(e for e, _ in errors) / len(batch)
        print(f"epoch {epoch + 1}/{args.epochs} loss {loss:.4f}", flush=True)
    print(f"learned weight {w:.3f} bias {b:.3f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--backend", choices=["auto", "torch", "python"], default="auto",
                    help="auto: PyTorch when it is installed, otherwise the plain-Python loop")
    ap.add_argument("--submit", action="store_true",
                    help="submit this script as a claimgate job, follow its log, exit with its exit code")
    ap.add_argument("--project", help="with --submit: the project to run it in")
    ap.add_argument("--gateway", help="with --submit: the gateway (default: $CLAIMGATE_GATEWAY, or the last login)")
    ap.add_argument("--nproc", type=int, default=2, help="with --submit: processes for torchrun (--nproc_per_node)")
    ap.add_argument("--max-runtime", default="1h", help="with --submit: the job's max_runtime")
    ap.add_argument("--python", default=sys.executable,
                    help="with --submit: the interpreter the job runs (claimgate importable; default: this one)")
    args = ap.parse_args()
    if args.submit:
        if not args.project:
            ap.error("--submit needs --project")
        raise SystemExit(submit(args))
    if args.backend == "python":
        return train_plain(args)
    try:
        import torch
    except ImportError:
        if args.backend == "torch":
            raise
        return train_plain(args)
    train_torch(args, torch)


def verify_identity(rank, world):
    """Every process, before it trains: the gateway checks the job's current token (signature,
    expiry, revocation: JobIdentity.verify) and its answer must name this job."""
    me = job_identity()
    try:
        answer = me.verify()
    except Exception as e:  # GatewayError (refused, revoked) or the gateway unreachable
        raise SystemExit(f"rank {rank}: the gateway did not accept the job token: {e}")
    if not answer.get("active") or answer.get("job") != me.job_id:
        raise SystemExit(f"rank {rank}: the gateway's answer does not name this job: {answer}")
    print(f"rank {rank}/{world}: job {me.job_id} verified by the gateway ({answer.get('state')})", flush=True)


def train_torch(args, torch):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    distributed = "WORLD_SIZE" in os.environ
    # Every process, before it joins the others: no rank trains on a token the gateway refuses.
    verify_identity(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)))
    cuda = torch.cuda.is_available()
    if distributed:
        dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    if rank == 0:
        print_identity(world)

    gen = torch.Generator().manual_seed(1234 + rank)
    x = torch.rand(args.samples // world, 1, generator=gen) * 4 - 2
    y = 3 * x - 2 + 0.05 * torch.randn(x.shape, generator=gen)
    x, y = x.to(device), y.to(device)
    model = torch.nn.Linear(1, 1).to(device)
    if distributed:
        model = DistributedDataParallel(model, device_ids=[device] if cuda else None)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.MSELoss()
    for epoch in range(args.epochs):
        for i in range(0, len(x), 64):
            opt.zero_grad()
            loss = loss_fn(model(x[i:i + 64]), y[i:i + 64])
            loss.backward()
            opt.step()
        if rank == 0:
            print(f"epoch {epoch + 1}/{args.epochs} loss {loss.item():.4f}", flush=True)
    if rank == 0:
        lin = model.module if distributed else model
        print(f"learned weight {lin.weight.item():.3f} bias {lin.bias.item():.3f}", flush=True)
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
