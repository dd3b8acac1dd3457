"""Benchmark 2: training digits to 95 % test accuracy, on the worldsheet and with program backprop.

All four trainers use the same network (64-64-10 tanh, cross-entropy, the same initial weights), the
same split (``substrate.datasets.digits``, seeded 70/30), minibatches of 16, heavy-ball momentum with
lr 0.025 and mu 0.9 (on the worldsheet: ``Inertial(mass=40, resistance=4)``), and test accuracy
checked every 20 updates. Reported: wall time and updates to the target, as ratios to numpy backprop.
"""

from __future__ import annotations

import time

import numpy as np

from substrate import MLP, backprop, datasets, ports, train

TARGET_ACCURACY = 0.95
CHECK_EVERY = 20
BATCH, LR, MOMENTUM = 16, 0.025, 0.9
MAX_EPOCHS = 60


class _Reached(Exception):
    pass


def _accuracy(net, data) -> float:
    return float(np.mean(np.argmax(net.forward(data.x_test), axis=1) == data.y_test))


def _worldsheet(data, schedule):
    net = MLP([64, 64, 10], activation="tanh", seed=0)
    reached = {}

    def check(info):
        if info.step % CHECK_EVERY == 0 and _accuracy(info.net, data) >= TARGET_ACCURACY:
            reached["updates"] = info.step
            raise _Reached

    start = time.perf_counter()
    try:
        train(net, data, substrate="worldsheet", schedule=schedule, port=ports.Inertial(mass=40.0, resistance=4.0),
              epochs=MAX_EPOCHS, batch_size=BATCH, seed=0, callbacks=(check,))
    except _Reached:
        pass
    return time.perf_counter() - start, reached.get("updates")


def _numpy_backprop(data):
    net = MLP([64, 64, 10], activation="tanh", seed=0)
    velocity = [np.zeros_like(p) for p in net.params]
    rng = np.random.default_rng(0)
    updates = 0
    start = time.perf_counter()
    for _ in range(MAX_EPOCHS):
        order = rng.permutation(len(data.x_train))
        for first in range(0, len(order) - BATCH + 1, BATCH):
            batch = order[first:first + BATCH]
            gradients = backprop(net, data.x_train[batch], data.y_train[batch], "cross_entropy")
            for p, v, g in zip(net.params, velocity, gradients):
                v *= MOMENTUM
                v -= LR * g
                p += v
            updates += 1
            if updates % CHECK_EVERY == 0 and _accuracy(net, data) >= TARGET_ACCURACY:
                return time.perf_counter() - start, updates
    return time.perf_counter() - start, None


def _pytorch(data):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    torch.set_num_threads(2)
    initial = MLP([64, 64, 10], activation="tanh", seed=0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Tanh(), torch.nn.Linear(64, 10)).double()
    with torch.no_grad():
        for layer, dense in zip([model[0], model[2]], initial.layers):
            layer.weight.copy_(torch.from_numpy(dense.weight))
            layer.bias.copy_(torch.from_numpy(dense.bias))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    x_train, y_train = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train).long()
    x_test, y_test = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test).long()
    rng = np.random.default_rng(0)
    updates = 0
    start = time.perf_counter()
    for _ in range(MAX_EPOCHS):
        order = torch.from_numpy(rng.permutation(len(x_train)))
        for first in range(0, len(order) - BATCH + 1, BATCH):
            batch = order[first:first + BATCH]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x_train[batch]), y_train[batch]).backward()
            optimizer.step()
            updates += 1
            if updates % CHECK_EVERY == 0:
                with torch.no_grad():
                    accuracy = (model(x_test).argmax(dim=1) == y_test).double().mean().item()
                if accuracy >= TARGET_ACCURACY:
                    return time.perf_counter() - start, updates, torch.__version__
    return time.perf_counter() - start, None, torch.__version__


def run(quick: bool = False) -> dict:
    data = datasets.digits(seed=0)
    baseline_time, baseline_updates = _numpy_backprop(data)
    rows = [{"trainer": "numpy backprop SGD (momentum)", "seconds": baseline_time, "updates": baseline_updates}]
    for schedule in ("pipelined", "separated"):
        seconds, updates = _worldsheet(data, schedule)
        rows.append({"trainer": f"worldsheet {schedule}", "seconds": seconds, "updates": updates})
    torch_result = _pytorch(data)
    if torch_result is None:
        rows.append({"trainer": "PyTorch CPU SGD", "seconds": None, "updates": None,
                     "note": "PyTorch not installed (optional: pip install torch)"})
    else:
        seconds, updates, version = torch_result
        rows.append({"trainer": f"PyTorch {version} CPU SGD (float64)", "seconds": seconds, "updates": updates})
    for row in rows:
        row["time_ratio"] = row["seconds"] / baseline_time if row["seconds"] is not None else None
        ok = row["updates"] is not None and baseline_updates
        row["updates_ratio"] = row["updates"] / baseline_updates if ok else None
    return {"name": "digits to 95 % test accuracy", "rows": rows,
            "target": "report (no target); ratios to numpy backprop",
            "meets_target": all(row["updates"] is not None for row in rows if row["seconds"] is not None)}
