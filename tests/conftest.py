"""Shared fixtures: random networks and batches, and the ngspice requirement."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from substrate import MLP


def random_problem(sizes, activation="tanh", output_activation="identity", loss="mse", batch=5, seed=0):
    """A random MLP with random biases and a random batch ``(net, x, y)``."""
    rng = np.random.default_rng(seed)
    net = MLP(sizes, activation=activation, output_activation=output_activation, seed=rng)
    for layer in net.layers:
        layer.bias[:] = 0.5 * rng.standard_normal(layer.n_out)
    x = rng.standard_normal((batch, sizes[0]))
    if loss == "cross_entropy":
        y = rng.integers(0, sizes[-1], batch)
    else:
        y = rng.standard_normal((batch, sizes[-1]))
    return net, x, y


@pytest.fixture
def problem():
    return random_problem


def ngspice_available() -> bool:
    return shutil.which("ngspice") is not None


@pytest.fixture
def ngspice():
    """Require ngspice: a failure under CI=true, a skip with a reason elsewhere."""
    if not ngspice_available():
        message = "ngspice is not installed (Debian package 'ngspice'; tests/run.sh installs it as root)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " and CI=true: ngspice tests must run in CI")
        pytest.skip(message)
    return shutil.which("ngspice")


EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name):
    """Import ``examples/<name>.py`` as a module (every example must be loaded by some test)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
