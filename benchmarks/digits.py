"""Benchmark 2: training digits to 95 % test accuracy, on the worldsheet and with program backprop.

Every trainer uses the same network (64-64-10 tanh, cross-entropy, the same initial weights), the
same split (``substrate.datasets.digits``, seeded 70/30), the same minibatch order (a fresh
permutation per epoch from ``default_rng(0)``), minibatches of 16, heavy-ball momentum with lr 0.025
and mu 0.9 (on the worldsheet: ``Inertial(mass=40, resistance=4)``), and test accuracy checked every
20 updates. The baseline is numpy backprop SGD written as a user would write it (forward, softmax
cross-entropy, backward and momentum by hand, no library calls). PyTorch runs the same loop in
float64 at 1 and 2 threads; the better is reported. numpy's BLAS runs at the thread count that is
faster for the baseline (probed first; the same for every numpy-based trainer).

Rounds are interleaved (every numpy-based trainer once per round, the order rotating; PyTorch in
rounds of its own with the baseline, since its idle worker threads spin for a while and would slow
the next trainer); each trainer's figure is the median over rounds of its wall time divided by the
baseline's in the same round, with the spread (25th to 75th percentile) of those per-round ratios.
"""

from __future__ import annotations

import time

import numpy as np

from substrate import MLP, backprop, datasets, ports, train

from .timing import blas_threads, spread

TARGET_ACCURACY = 0.95
CHECK_EVERY = 20
BATCH, LR, MOMENTUM = 16, 0.025, 0.9
MAX_EPOCHS = 60
#: acceptance (issue 14): worldsheet pipelined / numpy backprop SGD wall time to the target
TARGET = 1.5


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
    """Minibatch SGD with momentum, by hand in numpy (what a user writes without a framework)."""
    w1, b1, w2, b2 = (p.copy() for p in MLP([64, 64, 10], activation="tanh", seed=0).params)
    params = [w1, b1, w2, b2]
    velocity = [np.zeros_like(p) for p in params]
    one_hot = np.eye(10)[data.y_train]
    rng = np.random.default_rng(0)
    updates = 0
    start = time.perf_counter()
    for _ in range(MAX_EPOCHS):
        order = rng.permutation(len(data.x_train))
        for first in range(0, len(order) - BATCH + 1, BATCH):
            batch = order[first:first + BATCH]
            x, y = data.x_train[batch], one_hot[batch]
            hidden = np.tanh(x @ w1.T + b1)
            logits = hidden @ w2.T + b2
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
            d2 = (p - y) / BATCH
            d1 = (d2 @ w2) * (1.0 - hidden * hidden)
            gradients = (d1.T @ x, d1.sum(axis=0), d2.T @ hidden, d2.sum(axis=0))
            for p_, v, g in zip(params, velocity, gradients):
                v *= MOMENTUM
                v -= LR * g
                p_ += v
            updates += 1
            if updates % CHECK_EVERY == 0:
                predicted = np.argmax(np.tanh(data.x_test @ w1.T + b1) @ w2.T + b2, axis=1)
                if np.mean(predicted == data.y_test) >= TARGET_ACCURACY:
                    return time.perf_counter() - start, updates
    return time.perf_counter() - start, None


def _library_backprop(data):
    """The same SGD with the gradients from ``substrate.backprop`` (the earlier baseline of this benchmark)."""
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


def _pytorch(data, threads):
    import torch

    torch.manual_seed(0)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
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
                        return time.perf_counter() - start, updates
        return time.perf_counter() - start, None
    finally:
        torch.set_num_threads(previous)


def run(quick: bool = False) -> dict:
    data = datasets.digits(seed=0)
    rounds = 3 if quick else 7
    probe = {}
    for threads in (1, 2):  # the baseline's faster BLAS setting, used for every numpy-based trainer
        with blas_threads(threads):
            probe[threads] = min(_numpy_backprop(data)[0] for _ in range(2))
    blas = min(probe, key=probe.get)
    trainers = {
        "numpy backprop SGD (by hand)": lambda: _numpy_backprop(data),
        "worldsheet pipelined": lambda: _worldsheet(data, "pipelined"),
        "worldsheet separated": lambda: _worldsheet(data, "separated"),
        "numpy SGD on substrate.backprop": lambda: _library_backprop(data),
    }
    names = list(trainers)
    baseline = names[0]
    seconds = {name: [] for name in names}
    ratios = {name: [] for name in names}
    updates = {}

    def timed_round(order):
        times = {}
        for name in order:
            times[name], updates[name] = trainers[name]()
        for name in order:
            seconds[name].append(times[name])
            ratios[name].append(times[name] / times[baseline])

    with blas_threads(blas):
        for name in names:  # warm-up (imports, caches)
            trainers[name]()
        for r in range(rounds):  # the numpy-based trainers, the order rotating
            timed_round(names[r % len(names):] + names[:r % len(names)])
        try:
            import torch
        except ImportError:
            torch = None
        else:
            # PyTorch's worker threads keep spinning for a while after a parallel region, which would
            # slow whatever runs next: its rounds pair it with the baseline alone, with a pause after
            for threads in (1, 2):
                name = f"PyTorch {threads} thread{'s' * (threads > 1)}"
                trainers[name] = lambda t=threads: _pytorch(data, t)
                seconds[name], ratios[name] = [], []
                names.append(name)
                trainers[name]()
                time.sleep(0.5)
                for r in range(rounds):
                    timed_round([baseline, name] if r % 2 == 0 else [name, baseline])
                    time.sleep(0.5)
    rows = []
    for name in names:
        rows.append({"trainer": name, "seconds": float(np.median(seconds[name])), "updates": updates[name],
                     "time_ratio": spread(ratios[name]),
                     "updates_ratio": updates[name] / updates[baseline] if updates[name] else None})
    if torch is not None:  # keep the better thread setting of PyTorch
        torch_rows = [row for row in rows if row["trainer"].startswith("PyTorch")]
        best = min(torch_rows, key=lambda row: row["time_ratio"]["ratio"])
        best["trainer"] = f"PyTorch {torch.__version__} CPU, {best['trainer'][8:]} (best of 1, 2), float64"
        rows = [row for row in rows if not row["trainer"].startswith("PyTorch ") or row is best]
    by_name = {row["trainer"]: row for row in rows}
    pipelined = by_name["worldsheet pipelined"]
    ratio = pipelined["time_ratio"]["ratio"]
    per_update = ratio / pipelined["updates_ratio"] if pipelined["updates_ratio"] else None

    def show(row):
        t = row["time_ratio"]
        return f"{t['ratio']:.2f} [{t['q25']:.2f}, {t['q75']:.2f}]"

    summary = "; ".join(
        [f"worldsheet pipelined {show(pipelined)} ({pipelined['updates_ratio']:.2f}x the updates)",
         f"separated {show(by_name['worldsheet separated'])}",
         f"SGD on substrate.backprop {show(by_name['numpy SGD on substrate.backprop'])}"]
        + [f"{row['trainer']} {show(row)}" for row in rows if row["trainer"].startswith("PyTorch")])
    met = ratio <= TARGET and all(row["updates"] is not None for row in rows)
    explanation = None if met else (
        f"The pipelined trainer needs {pipelined['updates_ratio']:.2f}x the updates of SGD to reach 95 % (junction "
        f"k pairs its effort with weights up to 2(L-k)+1 updates old) and each update costs {per_update:.2f}x a "
        f"hand-written numpy SGD update: the same products plus the input port's s_0 and the stub writes, "
        f"through the library's general layer, loss and port calls (the momentum port does 6 array operations "
        f"per parameter array, kept bit-identical to the earlier trainer, where the hand-written loop does 3), "
        f"each numpy call (~1 us) a visible share of an update of "
        f"{1e6 * pipelined['seconds'] / pipelined['updates']:.0f} us; plus the per-epoch evaluation of the "
        f"training and test sets that the history records. At 1.0x per update the update count alone gives "
        f"{pipelined['updates_ratio']:.2f}.")
    return {"name": "digits to 95 % test accuracy", "rows": rows, "blas_threads": blas,
            "target": f"worldsheet pipelined / numpy backprop SGD <= {TARGET} in wall time",
            "pipelined_ratio": ratio, "pipelined_per_update_ratio": per_update, "summary": summary,
            "explanation": explanation, "meets_target": met}
