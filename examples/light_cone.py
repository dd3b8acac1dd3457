"""The light cone of backpropagation on the discrete worldsheet.

Relax a random 5-layer network from random waves at Courant number 1: the port efforts become the
exact backprop gradients at step 2L = 10 and not one step earlier. Then compare with the lumped RC
network in continuous time, whose error decays only like an Erlang tail.

Run: ``python examples/light_cone.py`` (writes ``light_cone.png`` in the working folder).
"""

from __future__ import annotations

import numpy as np

from substrate import MLP, Dyadic, Worldsheet, backprop, gradient_error
from substrate.plotting import plot_worldsheet


def main(out: str = "light_cone.png") -> dict:
    rng = np.random.default_rng(0)
    sizes = [4, 16, 16, 16, 16, 3]
    net = MLP(sizes, activation="tanh", seed=rng)
    x = rng.standard_normal((32, sizes[0]))
    y = rng.integers(0, sizes[-1], 32)
    depth = net.depth
    reference = backprop(net, x, y, "cross_entropy")

    state = Worldsheet(net, "cross_entropy").relax(x, y, 2 * depth + 2, init="random", rng=rng, record=True)
    plot_worldsheet(state.history, out, title=f"worldsheet of an MLP {sizes} (cross-entropy)")
    lumped = Dyadic(net, "cross_entropy").integrate(x, y, 12 * depth, t_eval=[2 * depth, 12 * depth])
    result = {
        "error_at_2L_minus_1": float(state.history.gradient_error[2 * depth - 1]),
        "error_at_2L": float(state.history.gradient_error[2 * depth]),
        "rc_error_at_2L_tau": gradient_error(lumped.states[0].gradients, reference),
        "rc_error_at_12L_tau": gradient_error(lumped.states[1].gradients, reference),
    }
    for name, value in result.items():
        print(f"{name:>22}: {value:.3e}")
    print(f"worldsheet plot: {out}")
    return result


if __name__ == "__main__":
    main()
