"""The user's own data for ``substrate train --data FILE``: ``.npz`` or ``.csv``, validated with clear errors.

``.npz``: arrays ``x`` (samples, inputs) and ``y``, and optionally ``x_test`` and ``y_test`` (else a
seeded split). ``.csv``: a header row; the column named ``label`` (integer classes) or every column
whose name starts with ``target`` (real regression targets), the other columns the inputs.
A 1-D ``y`` of integers is a classification (loss ``cross_entropy``), a 2-D real ``y`` a regression
(loss ``mse``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .errors import ConfigurationError

__all__ = ["load_file"]


def _inputs(where: str, x) -> np.ndarray:
    try:
        x = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{where} must hold numbers") from None
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ConfigurationError(f"{where} must be a 2-D array (samples, inputs), got shape {x.shape}")
    bad = np.argwhere(~np.isfinite(x))
    if len(bad):
        raise ConfigurationError(f"{where} holds a non-finite value at sample {bad[0][0]}, input {bad[0][1]}")
    return x


def _targets(where: str, y, n: int):
    y = np.asarray(y)
    if y.shape[:1] != (n,):
        raise ConfigurationError(f"{where} has {y.shape[0] if y.ndim else 0} entries but x has {n} samples")
    if y.ndim == 1:
        if not (np.issubdtype(y.dtype, np.integer) or (np.issubdtype(y.dtype, np.floating)
                                                       and np.all(np.isfinite(y)) and np.all(y == np.round(y)))):
            raise ConfigurationError(f"{where} must hold integer class labels (1-D) or real targets (2-D), got {y.dtype}")
        y = y.astype(int)
        if y.min() < 0:
            raise ConfigurationError(f"{where} holds the label {int(y.min())}; labels must be integers >= 0")
        return y, "cross_entropy"
    if y.ndim == 2 and np.issubdtype(y.dtype, np.number) and np.all(np.isfinite(y)):
        return y.astype(float), "mse"
    raise ConfigurationError(f"{where} must be integer labels (1-D) or finite real targets (2-D), got shape {y.shape}")


def _read_npz(path: Path):
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"--data {path}: not a readable .npz file without pickles ({error})") from None
    missing = [key for key in ("x", "y") if key not in arrays]
    if missing:
        raise ConfigurationError(f"--data {path}: needs arrays 'x' and 'y' (missing {missing}; found {sorted(arrays)})")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise ConfigurationError(f"--data {path}: give both 'x_test' and 'y_test' or neither")
    return arrays


def _read_csv(path: Path, label: str):
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            rows = list(csv.reader(stream))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"--data {path}: cannot be read as UTF-8 CSV ({error})") from None
    if len(rows) < 2:
        raise ConfigurationError(f"--data {path}: needs a header row and at least one sample")
    header = [name.strip() for name in rows[0]]
    targets = [i for i, name in enumerate(header) if name == label or name.startswith("target")]
    if not targets:
        raise ConfigurationError(f"--data {path}: no column named {label!r} (or 'target...'); columns: {header}")
    features = [i for i in range(len(header)) if i not in targets]
    if not features:
        raise ConfigurationError(f"--data {path}: no input columns besides {[header[i] for i in targets]}")
    values = np.empty((len(rows) - 1, len(header)))
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ConfigurationError(f"--data {path}: line {r} has {len(row)} fields, the header {len(header)}")
        for c, text in enumerate(row):
            try:
                values[r - 2, c] = float(text)
            except ValueError:
                raise ConfigurationError(f"--data {path}: line {r}, column {header[c]!r}: {text!r} is not a number") from None
    y = values[:, targets[0]] if header[targets[0]] == label else values[:, targets]
    return {"x": values[:, features], "y": y}


def load_file(path, test_fraction: float = 0.3, seed: int = 0, label: str = "label"):
    """Read ``path`` (``.npz`` or ``.csv``) into a :class:`~substrate.datasets.Dataset` named ``file``.

    Raises
    ------
    ConfigurationError
        Naming the file and what is wrong: a missing file or array, a wrong shape, a non-number, a
        non-finite value, labels that are not integers >= 0, train and test widths that differ.
    """
    from .datasets import Dataset, split

    path = Path(path)
    if not path.is_file():
        raise ConfigurationError(f"--data {str(path)!r} is not a file")
    if path.suffix.lower() == ".npz":
        arrays = _read_npz(path)
    elif path.suffix.lower() == ".csv":
        arrays = _read_csv(path, label)
    else:
        raise ConfigurationError(f"--data {str(path)!r} must be a .npz (x, y[, x_test, y_test]) or .csv file (a {label!r} column)")
    x = _inputs(f"--data {path}: x", arrays["x"])
    y, loss = _targets(f"--data {path}: y", arrays["y"], len(x))
    if "x_test" in arrays:
        x_test = _inputs(f"--data {path}: x_test", arrays["x_test"])
        y_test, test_loss = _targets(f"--data {path}: y_test", arrays["y_test"], len(x_test))
        if x_test.shape[1] != x.shape[1] or test_loss != loss or (loss == "mse" and y_test.shape[1] != y.shape[1]):
            raise ConfigurationError(f"--data {path}: x_test/y_test must have the widths and kind of x/y "
                                     f"(x {x.shape}, x_test {x_test.shape})")
        parts = (x, y, x_test, y_test)
    else:
        if len(x) < 2:
            raise ConfigurationError(f"--data {path}: needs at least 2 samples to split off a test set")
        parts = split(x, y, test_fraction, seed, stratify=loss == "cross_entropy")
    outputs = int(max(parts[1].max(), parts[3].max() if len(parts[3]) else 0)) + 1 if loss == "cross_entropy" else y.shape[1]
    if loss == "cross_entropy" and outputs < 2:
        raise ConfigurationError(f"--data {path}: y holds a single class; classification needs at least 2")
    return Dataset("file", *parts, loss, outputs, {"path": str(path), "test_fraction": test_fraction, "seed": seed,
                                                   "label": label})


def config_with_data(config: dict, path) -> dict:
    """A copy of the run configuration ``config`` that trains on the file ``path``: its ``[data]`` table
    becomes ``{name = "file", path = ...}`` (absolute path) and ``network.sizes`` gets the file's input
    and output widths around the configured hidden widths."""
    import copy

    dataset = load_file(path)
    result = copy.deepcopy(config)
    result["data"] = {"name": "file", "path": str(Path(path).resolve())}
    hidden = list(config.get("network", {}).get("sizes", [0, 16, 16, 0]))[1:-1]
    result.setdefault("network", {})["sizes"] = [dataset.n_inputs] + hidden + [dataset.n_outputs]
    return result
