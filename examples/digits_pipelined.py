"""Handwritten digits learned on the worldsheet, unlocked and timescale-separated.

A 64-64-10 tanh network with cross-entropy on scikit-learn's 8x8 digits (1797 images; seeded,
stratified 70/30 train/test split; pixels / 16), trained with inertial (momentum) ports, lr 0.025,
momentum 0.9, minibatches of 16, 20 epochs:

- ``pipelined``: one wave step per port update, a new minibatch enters every step, delay stubs pair
  each junction's input with the sensitivity of the same sample;
- ``separated``: 2L = 4 wave steps per update (exact minibatch gradients).

Needs scikit-learn (``pip install 'wave-substrate[digits]'``).
Run: ``python examples/digits_pipelined.py``.
"""

from __future__ import annotations

import time

import substrate
from substrate import datasets, ports


def main(epochs: int = 20, batch_size: int = 16, seed: int = 0) -> dict:
    data = datasets.digits(test_fraction=0.3, seed=seed)
    result = {"n_train": len(data.x_train), "n_test": len(data.x_test)}
    for schedule in ("pipelined", "separated"):
        net = substrate.MLP([64, 64, 10], activation="tanh", seed=seed)
        started = time.perf_counter()
        history = substrate.train(net, data, port=ports.Inertial(40.0, 4.0), schedule=schedule, epochs=epochs,
                                  batch_size=batch_size, seed=seed)
        result[f"{schedule}_test_accuracy"] = history.test_accuracy[-1]
        result[f"{schedule}_train_accuracy"] = history.train_accuracy[-1]
        result[f"{schedule}_seconds"] = time.perf_counter() - started
        result[f"{schedule}_updates"] = history.step[-1]
    return result


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key:>28}: {value}")
