#!/usr/bin/env python3
"""Train shelfcast's two-head network with PyTorch DDP on `shelfcast dataset export` shards.

usage:
  torchrun --nproc_per_node=N examples/pytorch/train_ddp.py DIR --out FILE.safetensors
           [--predictions FILE.csv] [--metrics FILE.json] [--threads T]
  python3 examples/pytorch/train_ddp.py DIR --out FILE.safetensors     (one process)

DIR is what `shelfcast dataset export` wrote (manifest.json, spec.json, shards). The
network, loss, optimiser and early stopping are `shelfcast train`'s (src/train/learn.c):

  - dense layers model.hidden with ReLU, then 2 outputs (sales, exposure logit), PyTorch's
    nn.Linear initialisation from model.seed;
  - loss per row (y - sales)^2 + exposure_weight * BCEWithLogits(z, exposure), the mean over
    a step of about model.batch_size rows, drawn from every rank;
  - Adam (betas 0.9/0.999, eps 1e-8) with decoupled weight decay (AdamW), model.learning_rate;
  - a debiased exponential average of the weights (model.ema) is what is evaluated and kept;
  - early stopping on the validation loss (model.patience), the best epoch's weights kept;
    with model.refit, training again from the same start on train + validation for the best
    epoch count;
  - training.coldstart_share of the training rows' categories routed to each feature's unknown
    slot once, at random (the trainer's cold-start routing, src/train/coldstart.c).
It does not build train's served blend (members, baseline units, calibrated intervals): it
trains the plain two-head MLP, which `shelfcast models import NAME --weights FILE --spec
DIR/spec.json` registers (tensors dense.N.weight / dense.N.bias, nn.Linear layout).

Each rank reads its own shards (train, validation and test shard i go to rank i % world) and
checks each against the manifest's SHA-256. DDP averages the gradients over the ranks, so every
step is one optimiser step over all ranks' rows. Rank 0 writes the weights with __metadata__
{"format": "pt", "spec": spec.json, "metrics": its test metrics}, computed as shelfcast's
evaluate.c computes them; --predictions writes each test row's outputs (row, line, the sales
head on the transformed scale, the exposure probability).

With Debian's python3-torch 1.13 on Python 3.11, torchrun needs `--redirects 2 --tee 2`
(its default "0" maps to no stream on 3.11 and the launcher fails before starting anything).
"""
import argparse
import hashlib
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}


def fail(msg):
    sys.stderr.write("train_ddp: error: %s\n" % msg)
    sys.exit(1)


def read_safetensors(path):
    """The tensors of a safetensors file as numpy arrays (a copy of the bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        fail("%s: too short for a safetensors file" % path)
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        fail("%s: header length %d runs past the end" % (path, n))
    try:
        header = json.loads(data[8:8 + n])
    except ValueError as e:
        fail("%s: header is not JSON: %s" % (path, e))
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t.get("dtype") not in DTYPES:
            fail("%s: tensor %s has dtype %r" % (path, name, t.get("dtype")))
        b, e = t["data_offsets"]
        arr = np.frombuffer(data, dtype=DTYPES[t["dtype"]], count=(e - b) // np.dtype(DTYPES[t["dtype"]]).itemsize,
                            offset=8 + n + b)
        out[name] = arr.reshape(t["shape"]).copy()
    return out


def write_safetensors(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, arr in tensors:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
        blobs.append(arr.tobytes())
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def my_shards(manifest, part, rank, world):
    """This rank's shards of a part: the i-th goes to rank i mod world."""
    return [s for i, s in enumerate(x for x in manifest["shards"] if x["part"] == part) if i % world == rank]


def load_part(directory, manifest, part, rank, world):
    """This rank's shards of one part, concatenated: x, sales, exposure, units, row, line."""
    mine = my_shards(manifest, part, rank, world)
    cols = {k: [] for k in ("x", "sales", "exposure", "units", "row", "line")}
    for s in mine:
        path = os.path.join(directory, s["file"])
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        if digest != s["sha256"]:
            fail("%s: SHA-256 %s, the manifest says %s" % (path, digest, s["sha256"]))
        t = read_safetensors(path)
        if t["x"].shape != (s["rows"], manifest["input_size"]):
            fail("%s: x has shape %s, expected (%d, %d)" % (path, t["x"].shape, s["rows"], manifest["input_size"]))
        for k in cols:
            cols[k].append(t[k])
    d = manifest["input_size"]
    return {k: (np.concatenate(v) if v else np.zeros((0, d) if k == "x" else (0,), dtype=np.float32))
            for k, v in cols.items()}


def route_coldstart(x, layout, share, seed):
    """train's cold-start routing: each categorical feature of each row to its unknown slot with probability share."""
    rng = np.random.default_rng(seed)
    for c in layout["categorical"]:
        off, width = c["offset"], c["width"]
        hit = rng.random(len(x)) < share
        x[hit, off:off + width] = 0
        x[hit, off + width - 1] = 1


def build_net(input_size, hidden, seed):
    torch.manual_seed(seed)
    layers, width = [], input_size
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    layers.append(torch.nn.Linear(width, 2))
    return torch.nn.Sequential(*layers)


def row_losses(out, sales, exposure, exposure_weight):
    d = out[:, 0] - sales
    bce = torch.nn.functional.binary_cross_entropy_with_logits(out[:, 1], exposure, reduction="none")
    return d * d + exposure_weight * bce


class Averager:
    """Polyak averaging as learn.c does it: zero start, after every step, debiased on use."""

    def __init__(self, params, decay):
        self.decay, self.steps = decay, 0
        self.avg = [torch.zeros_like(p) for p in params]

    def update(self, params):
        self.steps += 1
        with torch.no_grad():
            for a, p in zip(self.avg, params):
                a.mul_(self.decay).add_(p.detach(), alpha=1 - self.decay)

    def debiased(self):
        c = 1 - self.decay ** self.steps
        return [a / c for a in self.avg]


def all_sum(values, world):
    t = torch.tensor(values, dtype=torch.float64)
    if world > 1:
        dist.all_reduce(t)
    return t.tolist()


def evaluation_weights(net, avg, cfg):
    if cfg["ema"] > 0 and avg.steps > 0:
        return avg.debiased()
    return [p.detach().clone() for p in net.parameters()]


def mean_loss(net, weights, data, cfg, world):
    """The mean loss over every rank's rows of a part with the given weights."""
    keep = [p.detach().clone() for p in net.parameters()]
    with torch.no_grad():
        for p, w in zip(net.parameters(), weights):
            p.copy_(w)
        total, n = 0.0, len(data["sales"])
        for i in range(0, n, 4096):
            out = net(data["xt"][i:i + 4096])
            total += float(row_losses(out, data["st"][i:i + 4096], data["et"][i:i + 4096],
                                      cfg["exposure_weight"]).double().sum())
        for p, w in zip(net.parameters(), keep):
            p.copy_(w)
    total, n = all_sum([total, float(n)], world)
    return total / n if n else 0.0


def to_torch(data):
    data["xt"] = torch.from_numpy(data["x"].astype(np.float32))
    data["st"] = torch.from_numpy(data["sales"].astype(np.float32))
    data["et"] = torch.from_numpy(data["exposure"].astype(np.float32))
    return data


def train_run(net, model, rows, n_global, epochs, cfg, world, valid=None, log=None):
    """Epochs of minibatch AdamW over rows; with valid, early stopping. Returns (kept weights, epochs run, best epoch)."""
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["learning_rate"], betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=cfg["weight_decay"])
    avg = Averager(list(net.parameters()), cfg["ema"]) if cfg["ema"] > 0 else Averager([], 0)
    steps = max(1, math.ceil(n_global / cfg["batch_size"]))
    scale = world * steps / max(1, n_global)  # DDP averages over ranks: each step's loss is its rows' mean
    gen = torch.Generator().manual_seed(cfg["seed"] + 1000 * dist_rank())
    best, best_epoch, bad, kept, run = math.inf, 0, 0, None, 0
    for epoch in range(1, epochs + 1):
        t0 = time.time()
        perm = torch.randperm(len(rows["sales"]), generator=gen)
        total = 0.0
        for chunk in torch.tensor_split(perm, steps):
            out = model(rows["xt"][chunk])
            loss = row_losses(out, rows["st"][chunk], rows["et"][chunk], cfg["exposure_weight"]).sum()
            opt.zero_grad()
            (loss * scale).backward()
            opt.step()
            if cfg["ema"] > 0:
                avg.update(list(net.parameters()))
            total += float(loss)
        run = epoch
        train_loss = all_sum([total], world)[0] / max(1, n_global)
        if valid is None:
            if log:
                log("epoch %d/%d train_loss %.5f seconds %.2f" % (epoch, epochs, train_loss, time.time() - t0))
            continue
        weights = evaluation_weights(net, avg, cfg)
        valid_loss = mean_loss(net, weights, valid, cfg, world)
        if not (math.isfinite(valid_loss) and math.isfinite(train_loss)):
            fail("training diverged at epoch %d (loss is not finite): lower model.learning_rate" % epoch)
        improved = valid_loss < best - 1e-9
        if improved:
            best, best_epoch, bad, kept = valid_loss, epoch, 0, [w.clone() for w in weights]
        else:
            bad += 1
        if log:
            log("epoch %d/%d train_loss %.5f valid_loss %.5f%s seconds %.2f" % (
                epoch, epochs, train_loss, valid_loss, " best" if improved else "", time.time() - t0))
        if bad >= cfg["patience"]:
            break
    if valid is None:
        kept = evaluation_weights(net, avg, cfg)
    return kept, run, best_epoch


def dist_rank():
    return dist.get_rank() if dist.is_initialized() else 0


def metrics(transform, t_true, t_pred, label, p):
    """evaluate.c's sales and exposure metrics, rounded to 9 significant digits as stored."""
    def units(t):
        u = np.expm1(np.minimum(t, 700.0)) if transform == "log1p" else t.copy()
        u[~(u > 0)] = 0
        return u

    n = len(t_true)
    d = t_pred - t_true
    ss_tot = ((t_true - t_true.mean()) ** 2).sum()
    ut, up = units(t_true), units(t_pred)
    pos_u = ut > 0
    sales = {"r2_log": 1 - (d * d).sum() / ss_tot if ss_tot > 0 else 0.0, "mae_log": np.abs(d).mean(),
             "rmse": math.sqrt(((up - ut) ** 2).mean()),
             "mape": (np.abs(up - ut)[pos_u] / ut[pos_u]).mean() if pos_u.any() else 0.0,
             "wmape": np.abs(up - ut).sum() / ut.sum() if ut.sum() > 0 else 0.0}
    q = np.clip(p, 1e-7, 1 - 1e-7)
    pos = label > 0.5
    pred = p >= 0.5
    tp, fp = float((pred & pos).sum()), float((pred & ~pos).sum())
    tn, fn = float((~pred & ~pos).sum()), float((~pred & pos).sum())
    precision = tp / (tp + fp) if tp + fp > 0 else 0.0
    recall = tp / (tp + fn) if tp + fn > 0 else 0.0
    bins = np.clip((p * 10).astype(int), 0, 9)
    ece = 0.0
    for b in range(10):
        m = bins == b
        if m.any():
            ece += m.sum() / n * abs(p[m].mean() - label[m].mean())
    order = np.argsort(p, kind="mergesort")
    sp, sy = p[order], label[order]
    rank_sum, i = 0.0, 0
    while i < n:  # ties share their average rank, as evaluate_auc
        j = i
        while j < n and sp[j] == sp[i]:
            j += 1
        rank_sum += (sy[i:j] > 0.5).sum() * ((i + 1 + j) / 2.0)
        i = j
    npos = float(pos.sum())
    auc = 0.5 if npos in (0, n) else (rank_sum - npos * (npos + 1) / 2) / (npos * (n - npos))
    exposure = {"auc": auc, "log_loss": float(-(np.where(pos, np.log(q), np.log(1 - q))).mean()),
                "accuracy": (tp + tn) / n, "precision": precision, "recall": recall,
                "f1": 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0,
                "ece": ece}
    r9 = lambda v: float("%.9g" % v)
    return {"sales": {k: r9(v) for k, v in sales.items()}, "exposure": {k: r9(v) for k, v in exposure.items()},
            "test_rows": n}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--out", required=True, help="the safetensors file to write (rank 0)")
    ap.add_argument("--predictions", help="CSV of the test rows' outputs (rank 0)")
    ap.add_argument("--metrics", help="JSON of the test metrics (rank 0)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per rank (default 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("gloo")
    rank = dist_rank()
    log = (lambda s: sys.stderr.write(s + "\n")) if rank == 0 else None

    try:
        manifest = json.load(open(os.path.join(args.dir, "manifest.json")))
        spec_text = open(os.path.join(args.dir, "spec.json")).read()
        spec = json.loads(spec_text)
    except (OSError, ValueError) as e:
        fail("%s: %s" % (args.dir, e))
    if manifest.get("format") != "shelfcast.dataset.v1":
        fail("%s/manifest.json: format %r is not shelfcast.dataset.v1" % (args.dir, manifest.get("format")))
    cfg = manifest["training"]
    hidden = spec["architecture"]["hidden"]

    t_load = time.time()
    mine = [s["file"] for part in ("train", "validation", "test") for s in my_shards(manifest, part, rank, world)]
    sys.stderr.write("train_ddp: rank %d of %d reads %s\n" % (rank, world, ",".join(mine) or "no shards"))
    train = load_part(args.dir, manifest, "train", rank, world)
    valid = load_part(args.dir, manifest, "validation", rank, world)
    test = load_part(args.dir, manifest, "test", rank, world)
    route_coldstart(train["x"], manifest["layout"], cfg["coldstart_share"], cfg["seed"] * 7919 + rank)
    for d in (train, valid, test):
        to_torch(d)
    n_train, n_valid = manifest["parts"]["train"], manifest["parts"]["validation"]
    if log:
        log("train_ddp: %d ranks, %d train / %d validation / %d test rows, read in %.2fs" % (
            world, n_train, n_valid, manifest["parts"]["test"], time.time() - t_load))

    def wrap(net):
        return torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net

    t0 = time.time()
    net = build_net(manifest["input_size"], hidden, cfg["seed"])
    weights, epochs_run, best_epoch = train_run(net, wrap(net), train, n_train, cfg["epochs"], cfg, world,
                                                valid=valid, log=log)
    rows_seen = epochs_run * n_train
    if cfg["refit"] and best_epoch > 0:
        both = {k: torch.cat([train[k], valid[k]]) for k in ("xt", "st", "et")}
        both["sales"] = both["st"]
        net = build_net(manifest["input_size"], hidden, cfg["seed"])
        weights, _, _ = train_run(net, wrap(net), both, n_train + n_valid, best_epoch, cfg, world, log=log)
        rows_seen += best_epoch * (n_train + n_valid)
    seconds = time.time() - t0

    with torch.no_grad():
        for p, w in zip(net.parameters(), weights):
            p.copy_(w)
        out = net(test["xt"]).double().numpy() if len(test["sales"]) else np.zeros((0, 2))
    mine = {"row": test["row"], "line": test["line"], "y": out, "units": test["units"], "exposure": test["exposure"]}
    parts = [None] * world
    if world > 1:
        dist.all_gather_object(parts, mine)
    else:
        parts = [mine]
    if rank == 0:
        cat = {k: np.concatenate([p[k] for p in parts]) for k in mine}
        order = np.argsort(cat["row"], kind="mergesort")
        cat = {k: v[order] for k, v in cat.items()}
        target = spec["target"]
        transform = target["transform"]
        t_true = np.log1p(cat["units"]) if transform == "log1p" else cat["units"].astype(np.float64)
        t_pred = cat["y"][:, 0] * target["std"] + target["mean"]
        p = 1 / (1 + np.exp(-cat["y"][:, 1]))
        m = metrics(transform, t_true, t_pred, cat["exposure"].astype(np.float64), p)
        m["trainer"] = {"engine": "pytorch-ddp", "torch": torch.__version__, "world_size": world,
                        "epochs_run": epochs_run, "best_epoch": best_epoch, "refit": bool(cfg["refit"]),
                        "seconds": round(seconds, 3), "rows_per_second": round(rows_seen / seconds) if seconds else None,
                        "dataset": manifest["source"]["sha256"]}
        tensors = []
        linear = [mod for mod in net if isinstance(mod, torch.nn.Linear)]
        for i, lin in enumerate(linear):
            tensors.append(("dense.%d.weight" % i, lin.weight.detach().numpy()))
            tensors.append(("dense.%d.bias" % i, lin.bias.detach().numpy()))
        write_safetensors(args.out, tensors, {"format": "pt", "spec": spec_text.strip(),
                                              "metrics": json.dumps(m, sort_keys=True)})
        if args.metrics:
            with open(args.metrics, "w") as f:
                json.dump(m, f, sort_keys=True)
        if args.predictions:
            with open(args.predictions, "w") as f:
                f.write("row,line,sales,exposure_probability\n")
                for r, ln, t, q in zip(cat["row"], cat["line"], t_pred, p):
                    f.write("%d,%d,%.17g,%.17g\n" % (r, ln, t, q))
        print(json.dumps(m, sort_keys=True))
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
