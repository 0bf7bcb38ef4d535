#!/usr/bin/env python3
"""The PyTorch side of bench/train_speed: the same inputs and network as shelfcast's OJ config.

usage: train_torch.py OJ.csv DATASET.json EPOCHS -> prints "seconds r2_log auc"
(seconds: the training epochs only; data loading and encoding are not timed).
"""
import csv
import json
import math
import sys
import time

import numpy as np
import torch

torch.set_num_threads(2)
torch.manual_seed(7)
path, cfg_path, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
cfg = json.load(open(cfg_path))
rows = list(csv.DictReader(open(path)))
week = np.array([float(r[cfg["split"]["column"]]) for r in rows])
train = week < cfg["split"]["test_from"]
cols = []
for name in cfg["features"]["numeric"]:
    cols.append(np.array([float(r[name]) for r in rows]))
for name in cfg["features"].get("log", []):
    cols.append(np.log(np.array([float(r[name]) for r in rows])))
num = np.stack(cols, 1)
num = (num - num[train].mean(0)) / (num[train].std(0) + 1e-12)
parts = [num]
for name in cfg["features"]["categorical"]:
    vals = sorted(set(r[name] for r in rows))
    idx = {v: i for i, v in enumerate(vals)}
    oh = np.zeros((len(rows), len(vals) + 1))
    oh[np.arange(len(rows)), [idx[r[name]] for r in rows]] = 1
    parts.append(oh)
levels = [l["level"] for l in cfg["promotion"]["levels"]]
lv = np.zeros((len(rows), len(levels)))
lv[np.arange(len(rows)), [levels.index(int(r[cfg["promotion"]["column"]])) for r in rows]] = 1
parts.append(lv)
X = torch.tensor(np.concatenate(parts, 1), dtype=torch.float32)
t = np.log1p(np.array([float(r[cfg["target"]["column"]]) for r in rows]))
mean, std = t[train].mean(), t[train].std()
y = torch.tensor((t - mean) / std, dtype=torch.float32)
e = torch.tensor([float(r[cfg["exposure"]["column"]]) for r in rows], dtype=torch.float32)
tr, te = torch.tensor(np.where(train)[0]), torch.tensor(np.where(~train)[0])
net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                          torch.nn.Linear(32, 2))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
bce = torch.nn.BCEWithLogitsLoss()
start = time.time()
for epoch in range(epochs):
    perm = tr[torch.randperm(len(tr))]
    for i in range(0, len(perm), 256):
        b = perm[i:i + 256]
        out = net(X[b])
        loss = ((out[:, 0] - y[b]) ** 2).mean() + bce(out[:, 1], e[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
seconds = time.time() - start
with torch.no_grad():
    out = net(X[te])
pred = out[:, 0].numpy() * std + mean
truth = t[te.numpy()]
r2 = 1 - ((pred - truth) ** 2).sum() / ((truth - truth.mean()) ** 2).sum()
p = out[:, 1].numpy()
lab = e[te].numpy()
order = np.argsort(p)
ranks = np.empty(len(p))
ranks[order] = np.arange(1, len(p) + 1)
pos = lab.sum()
auc = (ranks[lab == 1].sum() - pos * (pos + 1) / 2) / (pos * (len(p) - pos))
print("%.3f %.4f %.4f" % (seconds, r2, auc))
