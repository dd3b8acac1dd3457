"""Benchmark 2: training digits to 95 % test accuracy, on the worldsheet and with program backprop.

Every trainer uses the same network (64-64-10 tanh, cross-entropy, the same initial weights), the
same split (``substrate.datasets.digits``, seeded 70/30), the same minibatch order (a fresh
permutation per epoch from ``default_rng(0)``), minibatches of 16, heavy-ball momentum with lr 0.025
and mu 0.9 (on the worldsheet: ``Inertial(mass=40, resistance=4)``). The baseline is numpy backprop
SGD written as a user would write it (forward, softmax cross-entropy, backward and momentum by hand,
no library calls). PyTorch runs the same loop in float64 at 1 and 2 threads; the better is reported.
Every numpy-based trainer runs at its own faster BLAS thread count (1 or 2, probed first in
interleaved rounds), as PyTorch runs at its better thread count; a run at 2 threads is followed by a
pause of 0.3 s, so that BLAS's spinning idle worker does not slow the next run.

Two passes, so that neither the update count nor the evaluation cost depends on a granularity:

1. **Count** (untimed): each trainer checks its test accuracy after *every* update; ``updates`` is
   the first update at which it reaches 95 %, exactly.
2. **Time**: each trainer runs exactly its ``updates`` updates, timed from the start of training,
   with the same evaluation for every trainer: one, at the start, of the loss and accuracy of the
   whole training and test sets. The worldsheet trainers run :func:`substrate.train` as a user would
   who wants no per-epoch history (``record_every`` longer than the run: only its row 0, that same
   evaluation); the others evaluate by hand at the start. After the timer stops, the final test
   accuracy is checked to be >= 95 % (the timed run is the counted one).

Rounds are interleaved (every numpy-based trainer once per round, the order rotating; PyTorch in
rounds of its own with the baseline, since its idle worker threads spin for a while and would slow
the next trainer); each trainer's figure is the median over rounds of its wall time divided by the
baseline's in the same round, with the spread (25th to 75th percentile) of those per-round ratios.
``per_update_ratio`` divides that by the ratio of update counts.

The learning rate is the same for all (0.025). As a disclosed alternative, the count pass is also run
for the baseline and the pipelined trainer at every rate of :data:`LR_GRID`: each method's best rate
of the grid and its update count are reported beside the headline.
"""

from __future__ import annotations

import math
import time

import numpy as np

from substrate import MLP, backprop, datasets, ports, train
from substrate.errors import NumericalError

from .timing import blas_threads, spread

TARGET_ACCURACY = 0.95
BATCH, LR, MOMENTUM = 16, 0.025, 0.9
#: learning rates of the disclosed best-rate-per-method count (the headline uses LR for every trainer)
LR_GRID = (0.0125, 0.025, 0.05, 0.1)
#: the count pass gives up after this many updates (40 epochs of digits)
MAX_UPDATES = 3120
#: acceptance (issue 14): worldsheet pipelined / numpy backprop SGD wall time to the target
TARGET = 1.5


class _Stop(Exception):
    pass


def _accuracy(params, data) -> float:
    w1, b1, w2, b2 = params
    return float(np.mean(np.argmax(np.tanh(data.x_test @ w1.T + b1) @ w2.T + b2, axis=1) == data.y_test))


def _evaluate(params, data) -> tuple:
    """Loss and accuracy of the whole training and test sets, by hand: what :func:`substrate.train`
    records in its row 0, so that every timed trainer evaluates once, at the start."""
    w1, b1, w2, b2 = params
    metrics = []
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        logits = np.tanh(x @ w1.T + b1) @ w2.T + b2
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        metrics += [float(-np.mean(log_p[np.arange(len(y)), y])), float(np.mean(np.argmax(logits, axis=1) == y))]
    return tuple(metrics)


def _batches(n_train):
    """The minibatch order every trainer uses: a fresh permutation per epoch from ``default_rng(0)``."""
    rng = np.random.default_rng(0)
    while True:
        order = rng.permutation(n_train)
        for first in range(0, n_train - BATCH + 1, BATCH):
            yield order[first:first + BATCH]


def _result(params, data, updates, start):
    """``updates=None`` (count): the first update reaching the target; else the wall time, checked."""
    if updates is None:
        return None
    seconds = time.perf_counter() - start
    if _accuracy(params, data) < TARGET_ACCURACY:
        raise RuntimeError(f"the timed run of {updates} updates ends below {TARGET_ACCURACY:.0%}: not the counted run")
    return seconds


def _worldsheet(data, schedule, lr=LR, updates=None):
    """``substrate.train`` on the worldsheet. ``updates=None``: count (test accuracy after every update,
    returns the first update reaching the target or None); else run exactly ``updates`` updates and
    return the wall time."""
    net = MLP([64, 64, 10], activation="tanh", seed=0)
    limit = MAX_UPDATES if updates is None else updates
    reached = []

    def stop(info):
        if updates is None and _accuracy(info.net.params, data) >= TARGET_ACCURACY:
            reached.append(info.step)
            raise _Stop
        if info.step == limit:
            raise _Stop

    epochs = math.ceil(limit / (len(data.x_train) // BATCH))
    start = time.perf_counter()
    try:
        train(net, data, substrate="worldsheet", schedule=schedule, port=ports.Inertial.from_momentum(lr, MOMENTUM),
              epochs=epochs, batch_size=BATCH, seed=0, callbacks=(stop,), record_every=epochs)
    except _Stop:
        pass
    except NumericalError:  # diverged (a rate of the grid too large for this schedule): never reaches the target
        if updates is not None:
            raise
        return None
    if updates is None:
        return reached[0] if reached else None
    return _result(net.params, data, updates, start)


def _numpy_backprop(data, lr=LR, updates=None):
    """Minibatch SGD with momentum, by hand in numpy (what a user writes without a framework).

    ``updates=None``: count; else run exactly ``updates`` updates and return the wall time."""
    w1, b1, w2, b2 = (p.copy() for p in MLP([64, 64, 10], activation="tanh", seed=0).params)
    params = [w1, b1, w2, b2]
    velocity = [np.zeros_like(p) for p in params]
    one_hot = np.eye(10)[data.y_train]
    limit = MAX_UPDATES if updates is None else updates
    start = time.perf_counter()
    _evaluate(params, data)
    for done, batch in enumerate(_batches(len(data.x_train)), start=1):
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
            v -= lr * g
            p_ += v
        if updates is None and _accuracy(params, data) >= TARGET_ACCURACY:
            return done
        if done == limit:
            break
    return _result(params, data, updates, start)


def _library_backprop(data, lr=LR, updates=None):
    """The same SGD with the gradients from ``substrate.backprop`` (the earlier baseline of this benchmark)."""
    net = MLP([64, 64, 10], activation="tanh", seed=0)
    velocity = [np.zeros_like(p) for p in net.params]
    limit = MAX_UPDATES if updates is None else updates
    start = time.perf_counter()
    _evaluate(net.params, data)
    for done, batch in enumerate(_batches(len(data.x_train)), start=1):
        gradients = backprop(net, data.x_train[batch], data.y_train[batch], "cross_entropy")
        for p, v, g in zip(net.params, velocity, gradients):
            v *= MOMENTUM
            v -= lr * g
            p += v
        if updates is None and _accuracy(net.params, data) >= TARGET_ACCURACY:
            return done
        if done == limit:
            break
    return _result(net.params, data, updates, start)


def _pytorch(data, threads, lr=LR, updates=None):
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
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
        x_train, y_train = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train).long()

        def params():
            return [t.detach().numpy() for t in (model[0].weight, model[0].bias, model[2].weight, model[2].bias)]

        limit = MAX_UPDATES if updates is None else updates
        start = time.perf_counter()
        _evaluate(params(), data)
        for done, batch in enumerate(_batches(len(x_train)), start=1):
            batch = torch.from_numpy(batch)
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x_train[batch]), y_train[batch]).backward()
            optimizer.step()
            if updates is None and _accuracy(params(), data) >= TARGET_ACCURACY:
                return done
            if done == limit:
                break
        return _result(params(), data, updates, start)
    finally:
        torch.set_num_threads(previous)


def _faster_blas(trainer, rounds: int = 5) -> dict:
    """:func:`spread` of ``t(2 BLAS threads) / t(1 thread)`` over interleaved rounds of ``trainer()``."""
    ratios = []
    for r in range(rounds):
        times = {}
        for count in ((1, 2) if r % 2 == 0 else (2, 1)):
            with blas_threads(count):
                times[count] = trainer()
            time.sleep(0.3 if count > 1 else 0.0)  # BLAS's idle worker spins for a while: let it stop first
        ratios.append(times[2] / times[1])
    return spread(ratios)


def run(quick: bool = False) -> dict:
    data = datasets.digits(seed=0)
    rounds = 3 if quick else 7
    counters = {
        "numpy backprop SGD (by hand)": lambda lr=LR, updates=None: _numpy_backprop(data, lr, updates),
        "worldsheet pipelined": lambda lr=LR, updates=None: _worldsheet(data, "pipelined", lr, updates),
        "worldsheet separated": lambda lr=LR, updates=None: _worldsheet(data, "separated", lr, updates),
        "numpy SGD on substrate.backprop": lambda lr=LR, updates=None: _library_backprop(data, lr, updates),
    }
    names = list(counters)
    baseline = names[0]
    # 1. count: the exact first update reaching the target, at the common rate and over the grid
    updates = {name: counters[name]() for name in names}
    grid = {name: {lr: (updates[name] if lr == LR else counters[name](lr)) for lr in LR_GRID}
            for name in (baseline, "worldsheet pipelined")}
    missing = [name for name in names if updates[name] is None]
    if missing:
        raise RuntimeError(f"{missing} did not reach {TARGET_ACCURACY:.0%} within {MAX_UPDATES} updates")
    trainers = {name: (lambda name=name: counters[name](updates=updates[name])) for name in names}
    # each numpy-based trainer runs at its own faster BLAS setting (1 or 2 threads: interleaved probe
    # rounds, the median of per-round ratios), as PyTorch runs at its better thread count
    probes = {name: _faster_blas(trainers[name]) for name in names}
    threads = {name: 2 if probe["ratio"] < 1.0 else 1 for name, probe in probes.items()}
    seconds = {name: [] for name in names}
    ratios = {name: [] for name in names}

    def timed_round(order):
        times = {}
        for name in order:
            with blas_threads(threads.get(name)):  # PyTorch sets its own threads
                times[name] = trainers[name]()
            if threads.get(name, 1) > 1:  # BLAS's idle worker spins for a while: let it stop first
                time.sleep(0.3)
        for name in order:
            seconds[name].append(times[name])
            ratios[name].append(times[name] / times[baseline])

    for name in names:  # warm-up (imports, caches)
        with blas_threads(threads[name]):
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
        for count in (1, 2):
            name = f"PyTorch {count} thread{'s' * (count > 1)}"
            updates[name] = _pytorch(data, count)
            if updates[name] is None:
                raise RuntimeError(f"{name} did not reach {TARGET_ACCURACY:.0%} within {MAX_UPDATES} updates")
            trainers[name] = lambda t=count, n=updates[name]: _pytorch(data, t, updates=n)
            seconds[name], ratios[name] = [], []
            names.append(name)
            trainers[name]()
            time.sleep(0.5)
            for r in range(rounds):
                timed_round([baseline, name] if r % 2 == 0 else [name, baseline])
                time.sleep(0.5)
    rows = []
    for name in names:
        time_ratio = spread(ratios[name])
        updates_ratio = updates[name] / updates[baseline]
        rows.append({"trainer": name, "blas_threads": threads.get(name), "seconds": float(np.median(seconds[name])),
                     "updates": updates[name],
                     "time_ratio": time_ratio, "updates_ratio": updates_ratio,
                     "per_update_ratio": time_ratio["ratio"] / updates_ratio})
    if torch is not None:  # keep the better thread setting of PyTorch
        torch_rows = [row for row in rows if row["trainer"].startswith("PyTorch")]
        best = min(torch_rows, key=lambda row: row["time_ratio"]["ratio"])
        best["trainer"] = f"PyTorch {torch.__version__} CPU, {best['trainer'][8:]} (best of 1, 2), float64"
        rows = [row for row in rows if not row["trainer"].startswith("PyTorch ") or row is best]
    by_name = {row["trainer"]: row for row in rows}
    pipelined = by_name["worldsheet pipelined"]
    ratio = pipelined["time_ratio"]["ratio"]
    per_update = pipelined["per_update_ratio"]
    best = {}
    for name, counts in grid.items():
        reached = {lr: n for lr, n in counts.items() if n is not None}
        lr_best = min(reached, key=reached.get)
        best[name] = {"lr": lr_best, "updates": reached[lr_best]}
    best_ratio = best["worldsheet pipelined"]["updates"] / best[baseline]["updates"]

    def show(row):
        t = row["time_ratio"]
        return f"{t['ratio']:.2f} [{t['q25']:.2f}, {t['q75']:.2f}]"

    summary = "; ".join(
        [f"worldsheet pipelined {show(pipelined)} ({pipelined['updates']} vs {updates[baseline]} updates, "
         f"{pipelined['updates_ratio']:.2f}x; {per_update:.2f}x per update)",
         f"separated {show(by_name['worldsheet separated'])}",
         f"SGD on substrate.backprop {show(by_name['numpy SGD on substrate.backprop'])}"]
        + [f"{row['trainer']} {show(row)}" for row in rows if row["trainer"].startswith("PyTorch")]
        + [f"each at its best rate of {list(LR_GRID)}: pipelined {best['worldsheet pipelined']['updates']} updates "
           f"(lr {best['worldsheet pipelined']['lr']:g}), SGD {best[baseline]['updates']} (lr {best[baseline]['lr']:g}), "
           f"{best_ratio:.2f}x the updates"])
    met = ratio <= TARGET
    explanation = None if met else (
        f"Counted exactly (test accuracy after every update), the pipelined trainer needs "
        f"{pipelined['updates']} updates to SGD's {updates[baseline]} at lr {LR:g} ({pipelined['updates_ratio']:.2f}x; "
        f"junction k pairs its effort with weights up to 2(L-k)+1 updates old), so even a pipelined update as "
        f"cheap as a hand-written SGD update gives {pipelined['updates_ratio']:.2f}; at each method's best rate of "
        f"{list(LR_GRID)} the gap widens to {best_ratio:.2f}x the updates (SGD gains from lr "
        f"{best[baseline]['lr']:g}, the delayed efforts do not). Each pipelined update costs {per_update:.2f}x a "
        f"hand-written numpy SGD update: the same products plus the stub writes and the log-softmax's "
        f"second exp, through the library's layer, loss and port calls (each numpy call ~1 us of an update of "
        f"{1e6 * pipelined['seconds'] / pipelined['updates']:.0f} us); every trainer evaluates once, at the start.")
    return {"name": "digits to 95 % test accuracy", "rows": rows, "blas_threads": threads,
            "blas_probe_2_over_1_threads": probes,
            "target": f"worldsheet pipelined / numpy backprop SGD <= {TARGET} in wall time",
            "pipelined_ratio": ratio, "pipelined_per_update_ratio": per_update,
            "best_rate_of_grid": best,
            "grid_updates": {name: {str(lr): n for lr, n in counts.items()} for name, counts in grid.items()},
            "summary": summary, "explanation": explanation, "meets_target": met}
