"""Save and load networks: one ``.npz`` file holding the architecture and the parameters."""

from __future__ import annotations

import json
import os

import numpy as np

from ..errors import ConfigurationError
from ..io import atomic_path
from .layers import Dense, Residual
from .network import Network

__all__ = ["save_network", "load_network", "network_run_id"]

_KINDS = {"dense": Dense, "residual": Residual}


def save_network(net: Network, path: str | os.PathLike, run_id: str | None = None) -> None:
    """Write ``net`` to ``path`` (``.npz``) atomically: arrays ``W1, b1, ...`` plus an ``architecture`` JSON string.

    ``run_id`` (optional) stamps the file with the run that trained it (see :func:`network_run_id`).
    """
    architecture = [
        {"kind": layer.kind, "activation": layer.activation.name, **({"step": layer.step} if layer.kind == "residual" else {})}
        for layer in net.layers
    ]
    arrays = {}
    for k, layer in enumerate(net.layers, start=1):
        arrays[f"W{k}"], arrays[f"b{k}"] = layer.weight, layer.bias
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            stamp = {} if run_id is None else {"run_id": np.array(str(run_id))}
            np.savez(handle, architecture=np.array(json.dumps(architecture)), **stamp, **arrays)


def network_run_id(path: str | os.PathLike) -> str | None:
    """The run id stamped into a network file by :func:`save_network`, or None when it has none."""
    with np.load(path, allow_pickle=False) as data:
        return str(data["run_id"]) if "run_id" in data.files else None


def load_network(path: str | os.PathLike) -> Network:
    """Read a network written by :func:`save_network`."""
    with np.load(path, allow_pickle=False) as data:
        if "architecture" not in data:
            raise ConfigurationError(f"{path} holds no 'architecture' entry: not written by save_network")
        architecture = json.loads(str(data["architecture"]))
        layers = []
        for k, spec in enumerate(architecture, start=1):
            kind = _KINDS[spec["kind"]]
            extra = {"step": spec["step"]} if spec["kind"] == "residual" else {}
            layers.append(kind(data[f"W{k}"], data[f"b{k}"], spec["activation"], **extra))
    return Network(layers)
