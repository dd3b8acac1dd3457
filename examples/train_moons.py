"""Every parameter-port kind trains the two-moons task on the worldsheet.

A 2-16-16-2 tanh network (cross-entropy) on 1000 seeded moons (noise 0.1, stratified 70/30 split),
minibatches of 16, 30 epochs, with: a resistive port (gradient descent), an inertial port (heavy-ball
momentum) on the unlocked pipeline, a resistive port with a leak (weight decay), a Gauss-Newton port
(on a 2-16-2 network, minibatches of 100, 10 epochs), and an inertial port whose parameters are
quantised to 16 levels in [-4, 4]; and, for contrast, the inertial port on the naive pipeline
(no delay stubs), which does not learn. Returns the test accuracy and the reflected port power of the last
update for each.

Run: ``python examples/train_moons.py``.
"""

from __future__ import annotations

import substrate
from substrate import datasets, ports


def cases():
    return {
        "resistive": ([2, 16, 16, 2], ports.Resistive(5.0), "separated", 16, 30),
        "inertial": ([2, 16, 16, 2], ports.Inertial(40.0, 4.0), "pipelined", 16, 30),
        "resistive+leak": ([2, 16, 16, 2], ports.Resistive(5.0) + ports.Leak(1e-4), "separated", 16, 30),
        "gauss_newton": ([2, 16, 2], ports.GaussNewton(1e-2, dtau=0.5), "separated", 100, 10),
        "inertial, 16 levels": ([2, 16, 16, 2], ports.Inertial(40.0, 4.0, bounds=(-4.0, 4.0), levels=16),
                                "pipelined", 16, 30),
        "inertial, naive pipeline": ([2, 16, 16, 2], ports.Inertial(40.0, 4.0), "naive", 16, 30),
    }


def main(seed: int = 0) -> dict:
    data = datasets.moons(n_samples=1000, noise=0.1, seed=seed)
    result = {}
    for name, (sizes, port, schedule, batch_size, epochs) in cases().items():
        net = substrate.MLP(sizes, activation="tanh", seed=seed)
        history = substrate.train(net, data, port=port, schedule=schedule, epochs=epochs, batch_size=batch_size,
                                  seed=seed)
        result[name] = {"test_accuracy": history.test_accuracy[-1], "reflected_power": history.reflected_power[-1],
                        "absorbed_power": history.absorbed_power[-1]}
    return result


if __name__ == "__main__":
    for name, numbers in main().items():
        print(f"{name:>22}: test accuracy {100 * numbers['test_accuracy']:.1f} %, "
              f"reflected power {numbers['reflected_power']:.2e}, absorbed {numbers['absorbed_power']:.2e}")
