"""Built-in datasets, generated and seeded (``digits`` is scikit-learn's bundled copy).

Every loader returns a :class:`Dataset` with a seeded train/test split (stratified for
classification). Inputs are dimensionless feature vectors; labels are integers for classification
(loss ``cross_entropy``) and real vectors for regression (loss ``mse``).

========  ===========  ==============================================================
name      loss         what
========  ===========  ==============================================================
xor       cross_entr.  Gaussian clusters at the four corners (+-1, +-1), label = XOR of the signs
moons     cross_entr.  two interleaving half circles with Gaussian noise
circles   cross_entr.  two concentric circles (radius ratio ``factor``) with noise
teacher   mse          a random tanh teacher MLP; targets are its outputs (+ optional noise)
digits    cross_entr.  8x8 handwritten digits (1797), pixels / 16; needs scikit-learn (extra ``digits``)
file      either       the user's ``.npz``/``.csv`` (``substrate train --data FILE``; :mod:`substrate.datafile`)
========  ===========  ==============================================================
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from .errors import ConfigurationError, check_range

__all__ = ["Dataset", "load", "DATASETS", "xor", "moons", "circles", "teacher", "digits", "split"]


@dataclass
class Dataset:
    """A train/test split of one task.

    Attributes
    ----------
    name : str
    x_train, x_test : ndarray, shape (n, n_inputs)
    y_train, y_test : ndarray
        Integer labels ``(n,)`` (classification) or targets ``(n, n_outputs)`` (regression).
    loss : {"cross_entropy", "mse"}
    n_outputs : int
        Classes, or regression outputs.
    options : dict
        The generator options that made it (for the run's resolved config).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    loss: str
    n_outputs: int
    options: dict = field(default_factory=dict)

    @property
    def n_inputs(self) -> int:
        return self.x_train.shape[1]

    @property
    def classification(self) -> bool:
        return self.loss == "cross_entropy"


def split(x, y, test_fraction: float, seed, stratify: bool = True):
    """Seeded train/test split; stratified by label when ``stratify`` (each class split alike)."""
    test_fraction = check_range("test_fraction", test_fraction, 0.0, 1.0, high_inclusive=False)
    rng = np.random.default_rng(seed)
    if stratify:
        test = []
        for label in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == label))
            test.extend(members[: int(round(test_fraction * len(members)))])
        test = np.sort(np.array(test, dtype=int))
    else:
        test = np.sort(rng.permutation(len(x))[: int(round(test_fraction * len(x)))])
    train = np.setdiff1d(np.arange(len(x)), test)
    train = rng.permutation(train)
    return x[train], y[train], x[test], y[test]


def _count(name, value, low=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigurationError(f"{name} = {value!r} must be an integer >= {low}")
    return int(value)


def xor(n_samples: int = 400, noise: float = 0.25, test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """Gaussian clusters (std ``noise``) around the corners ``(+-1, +-1)``; label 1 when the signs differ."""
    n_samples = _count("n_samples", n_samples, 8)
    noise = check_range("noise", noise, 0.0, 0.5)
    rng = np.random.default_rng(seed)
    corners = rng.integers(0, 4, n_samples)
    signs = np.stack([np.where(corners & 1, 1.0, -1.0), np.where(corners & 2, 1.0, -1.0)], axis=1)
    x = signs + noise * rng.standard_normal((n_samples, 2))
    y = (signs[:, 0] != signs[:, 1]).astype(int)
    return Dataset("xor", *split(x, y, test_fraction, rng), "cross_entropy", 2,
                   {"n_samples": n_samples, "noise": noise, "test_fraction": test_fraction, "seed": seed})


def moons(n_samples: int = 1000, noise: float = 0.1, test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """Two interleaving half circles (as scikit-learn's ``make_moons``), centred and scaled to unit size."""
    n_samples = _count("n_samples", n_samples, 4)
    noise = check_range("noise", noise, 0.0, 1.0)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n_samples)
    angle = rng.uniform(0.0, np.pi, n_samples)
    upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    lower = np.stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
    x = np.where(y[:, None] == 0, upper, lower) + noise * rng.standard_normal((n_samples, 2))
    x = (x - np.array([0.5, 0.25])) / np.array([1.0, 0.5])
    return Dataset("moons", *split(x, y, test_fraction, rng), "cross_entropy", 2,
                   {"n_samples": n_samples, "noise": noise, "test_fraction": test_fraction, "seed": seed})


def circles(n_samples: int = 1000, noise: float = 0.08, factor: float = 0.5, test_fraction: float = 0.3,
            seed: int = 0) -> Dataset:
    """Two concentric circles (radii 1 and ``factor``) with Gaussian noise; label 1 = inner circle."""
    n_samples = _count("n_samples", n_samples, 4)
    noise = check_range("noise", noise, 0.0, 1.0)
    factor = check_range("factor", factor, 0.0, 1.0, low_inclusive=False, high_inclusive=False)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n_samples)
    angle = rng.uniform(0.0, 2 * np.pi, n_samples)
    radius = np.where(y == 1, factor, 1.0)
    x = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1) + noise * rng.standard_normal((n_samples, 2))
    return Dataset("circles", *split(x, y, test_fraction, rng), "cross_entropy", 2,
                   {"n_samples": n_samples, "noise": noise, "factor": factor, "test_fraction": test_fraction,
                    "seed": seed})


def teacher(n_samples: int = 1000, sizes=(4, 8, 2), noise: float = 0.0, test_fraction: float = 0.3,
            seed: int = 0) -> Dataset:
    """Teacher-student regression: inputs N(0, 1), targets from a random tanh MLP ``sizes`` (+ noise)."""
    from .network import MLP

    n_samples = _count("n_samples", n_samples, 4)
    noise = check_range("noise", noise, 0.0, None)
    sizes = [_count("data.sizes entries", n) for n in sizes]
    if len(sizes) < 2:
        raise ConfigurationError(f"data.sizes = {sizes!r} needs at least two widths")
    rng = np.random.default_rng(seed)
    net = MLP(sizes, activation="tanh", seed=rng)
    for layer in net.layers:
        layer.weight *= 2.0  # a teacher in the nonlinear regime
        layer.bias[:] = 0.5 * rng.standard_normal(layer.n_out)
    x = rng.standard_normal((n_samples, sizes[0]))
    y = net.forward(x) + noise * rng.standard_normal((n_samples, sizes[-1]))
    return Dataset("teacher", *split(x, y, test_fraction, rng, stratify=False), "mse", sizes[-1],
                   {"n_samples": n_samples, "sizes": list(sizes), "noise": noise, "test_fraction": test_fraction,
                    "seed": seed})


def digits(test_fraction: float = 0.3, seed: int = 0) -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes), pixels scaled to [0, 1].

    Needs scikit-learn: ``pip install 'wave-substrate[digits]'``.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ConfigurationError(
            "the digits dataset needs scikit-learn: pip install 'wave-substrate[digits]'"
        ) from None
    bunch = load_digits()
    x = bunch.data.astype(float) / 16.0
    y = bunch.target.astype(int)
    return Dataset("digits", *split(x, y, test_fraction, seed), "cross_entropy", 10,
                   {"test_fraction": test_fraction, "seed": seed})


def file(path: str = "", test_fraction: float = 0.3, seed: int = 0, label: str = "label") -> Dataset:
    """The user's data from a ``.npz`` or ``.csv`` file (see :mod:`substrate.datafile`)."""
    from .datafile import load_file

    return load_file(path, test_fraction, seed, label)


DATASETS = {"xor": xor, "moons": moons, "circles": circles, "teacher": teacher, "digits": digits, "file": file}


def load(name: str, **options) -> Dataset:
    """Load a built-in dataset by name with generator ``options`` (see each loader)."""
    if name not in DATASETS:
        raise ConfigurationError(f"dataset {name!r} is unknown; valid: {sorted(DATASETS)}")
    allowed = set(inspect.signature(DATASETS[name]).parameters)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigurationError(f"data.{unknown[0]} is not an option of dataset {name!r}; valid: {sorted(allowed)}")
    return DATASETS[name](**options)
