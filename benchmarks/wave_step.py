"""Benchmark 1: one worldsheet wave step (with its port efforts) against one numpy backprop pass."""

from __future__ import annotations

import numpy as np

from substrate import MLP, Worldsheet, backprop

from .timing import interleaved

CASES = [([2, 16, 1], 32), ([16, 64, 64, 4], 64), ([64, 64, 10], 64), ([256, 256, 256, 10], 128),
         ([784, 512, 512, 10], 128)]
TARGET = 1.25


def run(quick: bool = False) -> dict:
    rows = []
    for sizes, batch in CASES:
        rng = np.random.default_rng(0)
        net = MLP(sizes, activation="tanh", seed=rng)
        x = rng.standard_normal((batch, sizes[0]))
        y = rng.integers(0, sizes[-1], batch)
        sheet = Worldsheet(net, "cross_entropy")
        target = sheet.loss.target(y, sizes[-1])
        state = sheet.relax(x, y, 2 * net.depth)

        def wave_step():
            sheet.step(state, target, with_efforts=True)

        def backprop_pass():
            backprop(net, x, y, "cross_entropy")

        timed = interleaved(wave_step, backprop_pass, repeats=5 if quick else 9)
        rows.append({"sizes": sizes, "batch": batch, "params": net.n_params, "ratio": timed["ratio"],
                     "spread": [timed["q25"], timed["q75"]], "wave_step_s": timed["t_numerator"],
                     "backprop_s": timed["t_denominator"], "meets_target": timed["ratio"] <= TARGET})
    ratios = [r["ratio"] for r in rows]
    return {"name": "wave step / backprop pass", "target": f"ratio <= {TARGET}", "rows": rows,
            "summary": f"{min(ratios):.2f} to {max(ratios):.2f}",
            "meets_target": all(r["meets_target"] for r in rows)}
