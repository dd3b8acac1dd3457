"""Benchmark: the lean pipelined trainer (issue 14): update cost, allocation and peak memory.

- One pipelined update (``Pipelined.advance``: one wave step of every junction with its efforts,
  stubs read and written in place) against one worldsheet wave step with efforts
  (``Worldsheet.step(..., with_efforts=True)``), at depths 16, 64 and 128 (width 32, batch 16), as
  interleaved ratios with their spread.
- Allocation per update: the peak of new memory during one ``advance`` (tracemalloc), per layer;
  constant per layer means O(L). The emitted waves and efforts it must create are shown beside it.
- Peak memory of training a network of 1e7 parameters (ten layers of 1000, batch 4, 32 updates,
  pipelined), traced with tracemalloc from before the network exists (the dataset excluded), as a
  multiple of the parameter bytes, before and after taking away the waves and stubs the schedule
  holds (with the stub slots the trainer's last-check snapshot keeps, and the two other sets of waves
  alive at once: the set being emitted and the last check's). A resistive port (gradient descent) holds parameters, efforts and the snapshot that
  names a failing update; an inertial port adds the velocity and its snapshot.
"""

from __future__ import annotations

import tracemalloc

import numpy as np

from substrate import MLP, Worldsheet, ports, train
from substrate.learning.schedules import Pipelined
from substrate.learning.trainer import CHECK_EVERY
from substrate.network import get_loss

from .timing import interleaved

DEPTHS = [16, 64, 128]
WIDTH, BATCH = 32, 16
TARGET_RATIO = 1.2
MEMORY_TARGET = 3.0
#: batch-sized temporaries (one junction's products, the port update's blocks) on top, as a share
MEMORY_ALLOWANCE = 0.01


def _pipeline(depth):
    rng = np.random.default_rng(0)
    net = MLP([WIDTH] * (depth + 1), activation="tanh", seed=rng)
    x = rng.standard_normal((BATCH, WIDTH))
    y = rng.standard_normal((BATCH, WIDTH))
    loss = get_loss("mse")
    target = loss.target(y, WIDTH)
    schedule = Pipelined(net, loss)
    state = schedule.initial(BATCH)
    indices = np.arange(BATCH)
    for _ in range(2 * depth + 2):  # fill the pipeline: every junction busy, the loss port reflecting
        schedule.advance(state, x, target, indices)
    sheet = Worldsheet(net, loss)
    waves = sheet.relax(x, y, 2 * depth)
    return net, schedule, state, sheet, waves, x, target, indices


def _allocation(schedule, state, x, target, indices) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    schedule.advance(state, x, target, indices)
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    return peak


def training_peak(port, widths=(1000,) * 11, samples=64, batch=4, epochs=2) -> dict:
    """Peak traced memory of ``train`` (pipelined) on a random regression task, in bytes and ratios."""
    rng = np.random.default_rng(0)
    tracemalloc.start()
    x = rng.standard_normal((samples, widths[0]))
    y = 0.1 * rng.standard_normal((samples, widths[-1]))
    data_bytes = tracemalloc.get_traced_memory()[0]
    net = MLP(list(widths), activation="tanh", seed=0)
    param_bytes = sum(p.nbytes for p in net.params)
    schedule = Pipelined(net, get_loss("mse"))
    state = schedule.initial(batch)
    held = sum(a.nbytes for a in state.values())
    # three sets of waves exist at once: the present set, the one being emitted, the last check's
    waves = sum(a.nbytes for key, a in state.items() if key.startswith(("forward_", "backward_")))
    # the trainer's snapshot at its last check keeps the stub slots the next CHECK_EVERY updates overwrite
    kept = sum(a.nbytes for key, value in schedule.snapshot(state, CHECK_EVERY).items()
               if key.startswith("stub_") for a in value[1:])
    del schedule, state
    tracemalloc.reset_peak()
    train(net, (x, y), schedule="pipelined", port=port, epochs=epochs, batch_size=batch, loss="mse")
    peak = tracemalloc.get_traced_memory()[1] - data_bytes
    tracemalloc.stop()
    return {"port": repr(port), "params": net.n_params, "param_bytes": param_bytes, "waves_and_stubs_bytes": held,
            "stub_slots_kept_bytes": kept, "extra_wave_sets_bytes": 2 * waves, "peak_bytes": peak,
            "peak_over_params": peak / param_bytes,
            "beyond_waves_and_stubs_over_params": (peak - held - kept - 2 * waves) / param_bytes}


def run(quick: bool = False) -> dict:
    rows = []
    for depth in DEPTHS:
        net, schedule, state, sheet, waves, x, target, indices = _pipeline(depth)
        ratio = interleaved(lambda: schedule.advance(state, x, target, indices),
                            lambda: sheet.step(waves, target, with_efforts=True), repeats=5 if quick else 9)
        allocated = _allocation(schedule, state, x, target, indices)
        emitted = sum(3 * BATCH * WIDTH * 8 + p.nbytes for p in net.params[::2])  # a_k, f'_k, s_k and efforts
        rows.append({"depth": depth, "ratio": ratio["ratio"], "spread": [ratio["q25"], ratio["q75"]],
                     "advance_s": ratio["t_numerator"], "wave_step_s": ratio["t_denominator"],
                     "allocated_bytes": allocated, "allocated_per_layer": allocated / depth,
                     "emitted_bytes": emitted, "meets_target": ratio["ratio"] <= TARGET_RATIO})
    per_layer = [row["allocated_per_layer"] for row in rows]
    linear = max(per_layer) / min(per_layer) <= 1.5
    memory = [training_peak(ports.Resistive(1000.0))]  # lr 1e-3: stable at width 1000
    if not quick:
        memory.append(training_peak(ports.Inertial(4000.0, 400.0)))  # lr 2.5e-4, momentum 0.9
    resistive = memory[0]
    memory_ok = resistive["beyond_waves_and_stubs_over_params"] <= MEMORY_TARGET * (1 + MEMORY_ALLOWANCE)
    ratios_ok = all(row["meets_target"] for row in rows)
    summary = ("update / wave step " + ", ".join(f"L={row['depth']} {row['ratio']:.2f} [{row['spread'][0]:.2f}, "
                                                 f"{row['spread'][1]:.2f}]" for row in rows)
               + f"; allocation per update {min(per_layer) / 1e3:.1f} to {max(per_layer) / 1e3:.1f} kB per layer "
               f"({'O(L)' if linear else 'not O(L)'}); training peak at {resistive['params']:.2g} parameters: "
               + ", ".join(f"{m['port'].split('(')[0].lower()} {m['peak_over_params']:.2f}x parameter bytes "
                           f"({m['beyond_waves_and_stubs_over_params']:.2f}x beyond waves and stubs)" for m in memory))
    explanations = []
    if not ratios_ok:
        worst = max(rows, key=lambda row: row["ratio"])
        extra = (worst["advance_s"] - worst["wave_step_s"]) / worst["depth"]
        explanations.append(
            f"At depth {worst['depth']} the pipelined update costs {1e6 * extra:.1f} us more per junction than the "
            f"wave step ({1e6 * worst['wave_step_s'] / worst['depth']:.1f} us per junction): the stub slot read and "
            "write and the per-junction Python work, on 16 x 32 arrays where each numpy call is ~1 us.")
    if not memory_ok:
        excess = (resistive["beyond_waves_and_stubs_over_params"] - MEMORY_TARGET) * resistive["param_bytes"]
        explanations.append(
            f"The resistive port's peak is its parameters, the efforts and the last check's snapshot (3x) plus "
            f"{excess / 1e6:.2f} MB of batch-sized temporaries (junction products, update blocks).")
    if len(memory) > 1:
        explanations.append("An inertial port also holds its velocity and the velocity's snapshot: 5x.")
    return {"name": "pipelined update / wave step; allocation per update; training peak memory at 1e7 parameters",
            "rows": rows, "allocation_linear_in_depth": linear, "memory": memory, "summary": summary,
            "explanation": " ".join(explanations) or None,
            "target": f"ratio <= {TARGET_RATIO} at depths {DEPTHS}; allocation O(L); peak memory (resistive port) "
                      f"<= {MEMORY_TARGET:g}x parameter bytes plus waves and stubs ({100 * MEMORY_ALLOWANCE:g} % "
                      "allowance for batch-sized temporaries)",
            "meets_target": ratios_ok and linear and memory_ok}
