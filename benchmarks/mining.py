"""Online mining at growing batch sizes: facenet-edu against pytorch-metric-learning (PML), same inputs, same run.

Two tasks, both on the CPU with torch.set_num_threads(2) (--threads to change):

  semi-hard loss   ours: batch_semihard_triplet_loss(...).loss.backward()
                   PML:  TripletMarginMiner(type_of_triplets="semihard") then TripletMarginLoss, .backward()
                   (not the same number: PML averages every semi-hard triplet, FaceNet/ours takes the
                   closest semi-hard negative of each anchor-positive pair; both are "the semi-hard loss"
                   a user would reach for, and both need the same distances and comparisons)
  hard mining      ours: mine_triplets(..., "hard", margin)   PML: TripletMarginMiner(type_of_triplets="hard")
                   (same definition, d_an <= d_ap: the triplet counts are printed; they agree up to a
                   near-tie or two, since PML computes float32 distances with cdist, we with one matrix product)

Inputs: B embeddings of dimension 128 in a P x K batch (K = 8 images per person), each the
person's random unit center plus Gaussian noise (sigma 0.16), renormalised: a batch "in the
middle of training" where about 2.5% of triplets are hard, 58% semi-hard, the rest easy.

How it is measured (honestly, with its limits):
  * time: wall clock of one call, the fastest of the calls made in a 3-second window (at least 2,
    at most 50; B <= 1024 after one untimed warm-up call). The fastest because the machine may be
    shared with other work: on a busy 2-core machine single calls were seen to take 100x longer.
  * memory: every measurement runs in a fresh Python subprocess; "peak MB" is the process's peak
    resident set size (resource.getrusage ru_maxrss) minus its resident size just before the first
    call, i.e. the extra memory the call needed at its worst. torch's CPU tensors come from malloc,
    so RSS sees them; it is a whole-process figure (allocator caching included), not a per-tensor count.
  * PML enumerates every valid triplet, O(B^3) work and memory: below B^3 < 2^31 it even builds a
    B x B x B mask. A PML call is skipped when its estimated memory (B^3 mask bytes + about 60 bytes
    per valid triplet) exceeds --pml-budget-gb (default 4, the machine is shared), and is stopped
    after --timeout seconds.

Run:  .venv/bin/python benchmarks/mining.py   (about 2 to 4 minutes)
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

SIZES = (128, 256, 512, 1024, 2048, 4096)
K = 8
DIM = 128
MARGIN = 0.2
SIGMA = 0.16
MIN_SECONDS = 3.0  # keep repeating a call for this long (at least 2 calls, at most 50) and keep the fastest


def make_batch(batch_size: int):
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(batch_size)
    num_people = batch_size // K
    labels = torch.arange(num_people).repeat_interleave(K)
    centers = F.normalize(torch.randn(num_people, DIM, generator=g), dim=1)[labels]
    embeddings = F.normalize(centers + SIGMA * torch.randn(batch_size, DIM, generator=g), dim=1)
    return embeddings, labels


def pml_estimate_gb(batch_size: int) -> float:
    """Memory PML's all-triplet enumeration needs: the B^3 mask (when it uses one) plus ~60 bytes per valid triplet."""
    triplets = batch_size * (K - 1) * (batch_size - K)
    mask = batch_size**3 if batch_size**3 < 2**31 else 0
    return (mask + 60 * triplets) / 1e9


def current_rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def run_one(task: str, impl: str, batch_size: int, threads: int) -> dict:
    """Measure one (task, implementation, size) in this process; called in a fresh subprocess."""
    import torch

    torch.set_num_threads(threads)
    from pytorch_metric_learning.losses import TripletMarginLoss
    from pytorch_metric_learning.miners import TripletMarginMiner

    from facenet_edu.losses import batch_semihard_triplet_loss
    from facenet_edu.mining import mine_triplets

    embeddings, labels = make_batch(batch_size)
    info = {}

    def call():
        if task == "semi-hard loss":
            x = embeddings.clone().requires_grad_()
            if impl == "ours":
                loss = batch_semihard_triplet_loss(x, labels, MARGIN).loss
            else:
                triplets = TripletMarginMiner(margin=MARGIN, type_of_triplets="semihard")(x, labels)
                loss = TripletMarginLoss(margin=MARGIN)(x, labels, triplets)
            loss.backward()
        else:
            if impl == "ours":
                triplets = mine_triplets(embeddings, labels, "hard", MARGIN)
            else:
                triplets = TripletMarginMiner(margin=MARGIN, type_of_triplets="hard")(embeddings, labels)
            info["count"] = len(triplets[0])

    if batch_size <= 1024:
        call()  # warm-up, not timed
    baseline = current_rss_kb()
    times, start_all = [], time.perf_counter()
    while len(times) < 2 or (time.perf_counter() - start_all < MIN_SECONDS and len(times) < 50):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    peak_mb = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024
    return {"seconds": min(times), "peak_mb": peak_mb, **info}


def measure(task: str, impl: str, batch_size: int, timeout: float, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--one", task, impl, str(batch_size), "--threads", str(threads)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"note": f"stopped after {timeout:.0f} s"}
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return {"note": f"failed: {last[:60]}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", nargs=3, metavar=("TASK", "IMPL", "B"), help=argparse.SUPPRESS)
    parser.add_argument("--pml-budget-gb", type=float, default=4.0)
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    parser.add_argument("--threads", type=int, default=2, help="torch threads per measurement")
    args = parser.parse_args()
    if args.one:
        task, impl, b = args.one
        print(json.dumps(run_one(task, impl, int(b), args.threads)))
        return

    print(f"P x K batches (K={K}), D={DIM}, margin={MARGIN}, {args.threads} torch threads; time = fastest call in a 3 s window;")
    print("peak MB = extra peak RSS of a fresh process during the calls.")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (timings are wall clock)\n")
    header = f"{'task':<15} {'B':>5} | {'ours s':>8} {'ours MB':>8} | {'PML s':>8} {'PML MB':>8} | {'PML/ours time':>13} {'PML/ours mem':>12} | note"
    print(header)
    print("-" * len(header))
    for task in ("semi-hard loss", "hard mining"):
        for b in args.sizes:
            ours = measure(task, "ours", b, args.timeout, args.threads)
            need = pml_estimate_gb(b)
            if need > args.pml_budget_gb:
                pml = {"note": f"PML skipped: would need ~{need:.1f} GB"}
            else:
                pml = measure(task, "pml", b, args.timeout, args.threads)
            notes = [n for n in (ours.get("note"), pml.get("note")) if n]
            if "count" in ours:
                notes.append(f"hard triplets ours {ours['count']}" + (f", PML {pml['count']}" if "count" in pml else ""))
            fmt = lambda r, k, f: format(r[k], f) if k in r else "-"  # noqa: E731
            time_ratio = f"{pml['seconds'] / ours['seconds']:.1f}x" if "seconds" in pml and "seconds" in ours else "-"
            mem_ratio = f"{pml['peak_mb'] / max(ours['peak_mb'], 1.0):.1f}x" if "peak_mb" in pml and "peak_mb" in ours else "-"
            print(f"{task:<15} {b:>5} | {fmt(ours, 'seconds', '8.3f'):>8} {fmt(ours, 'peak_mb', '8.0f'):>8} | "
                  f"{fmt(pml, 'seconds', '8.3f'):>8} {fmt(pml, 'peak_mb', '8.0f'):>8} | {time_ratio:>13} {mem_ratio:>12} | {'; '.join(notes)}",
                  flush=True)
    print("\nmemory ratios divide by max(ours, 1 MB); ratios > 1 mean PML is slower / needs more memory.")
    print(f"load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
