"""Run configurations: built-in presets, TOML/JSON files, validation before any work.

A configuration has four tables and an optional fifth (TOML)::

    [data]      name = "moons" and the dataset's generator options (see substrate.datasets)
    [network]   sizes = [2, 16, 16, 2], activation = "tanh", output_activation = "identity", seed = 0
    [port]      kind = "inertial", mass = 20.0, resistance = 2.0, dtau = 1.0, leak = 0.0,
                bounds = [-3.0, 3.0], levels = 16          (see substrate.ports.from_config)
    [train]     substrate, schedule, epochs, batch_size, courant, seed, beta, wave_steps, gradient_check,
                record_every
    [circuit]   td = 1e-9, z0 = 50.0, port_capacitance = 1e-12, ... (substrate = "tline": SI units,
                see circuits.physical.Circuit) or tau = 1e-6, settle_taus = 40, ... (substrate = "rc":
                circuits.rc_session.RCCircuit); defaults: an ideal circuit

``data.name`` selects a built-in preset (:data:`PRESETS`); the file's values override it. A table
that is given replaces nothing else: unspecified keys keep the preset's value, except ``[port]``,
which when it names a different ``kind`` starts from that kind's own parameters. Unknown keys, wrong
types and values out of range raise :class:`~substrate.errors.ConfigurationError` naming the key.
"""

from __future__ import annotations

import copy
import inspect
import json
import tomllib
import warnings
from pathlib import Path

from ..datasets import DATASETS, load
from ..discrete.worldsheet import check_courant, relaxation_steps
from ..errors import ConfigurationError, ShapeError, SubstrateWarning, check_range, check_type, warn
from ..io import read_text
from ..resources import FLOAT, check_memory
from ..network import ACTIVATIONS, MLP
from ..ports import from_config as port_from_config
from .substrates import SUBSTRATES, get_substrate

__all__ = ["PRESETS", "resolve", "load_config", "build", "memory_needs"]

_TRAIN = {"substrate": "worldsheet", "schedule": "separated", "courant": 1.0, "seed": 0, "beta": 1.0,
          "gradient_check": True}

#: built-in tasks: ``substrate train <name>``
PRESETS: dict[str, dict] = {
    "xor": {
        "data": {"name": "xor", "n_samples": 400, "noise": 0.25, "test_fraction": 0.3, "seed": 0},
        "network": {"sizes": [2, 8, 2], "activation": "tanh", "output_activation": "identity", "seed": 0},
        "port": {"kind": "inertial", "mass": 10.0, "resistance": 1.0, "dtau": 1.0},
        "train": {**_TRAIN, "epochs": 20, "batch_size": 16},
    },
    "moons": {
        "data": {"name": "moons", "n_samples": 1000, "noise": 0.1, "test_fraction": 0.3, "seed": 0},
        "network": {"sizes": [2, 16, 16, 2], "activation": "tanh", "output_activation": "identity", "seed": 0},
        "port": {"kind": "inertial", "mass": 40.0, "resistance": 4.0, "dtau": 1.0},
        "train": {**_TRAIN, "schedule": "pipelined", "epochs": 30, "batch_size": 16},
    },
    "circles": {
        "data": {"name": "circles", "n_samples": 1000, "noise": 0.08, "factor": 0.5, "test_fraction": 0.3, "seed": 0},
        "network": {"sizes": [2, 16, 16, 2], "activation": "tanh", "output_activation": "identity", "seed": 0},
        "port": {"kind": "inertial", "mass": 20.0, "resistance": 2.0, "dtau": 1.0},
        "train": {**_TRAIN, "epochs": 30, "batch_size": 16},
    },
    "teacher": {
        "data": {"name": "teacher", "n_samples": 1000, "sizes": [4, 8, 2], "noise": 0.0, "test_fraction": 0.3,
                 "seed": 0},
        "network": {"sizes": [4, 16, 2], "activation": "tanh", "output_activation": "identity", "seed": 0},
        "port": {"kind": "inertial", "mass": 20.0, "resistance": 2.0, "dtau": 1.0},
        "train": {**_TRAIN, "epochs": 40, "batch_size": 16},
    },
    "digits": {
        "data": {"name": "digits", "test_fraction": 0.3, "seed": 0},
        "network": {"sizes": [64, 64, 10], "activation": "tanh", "output_activation": "identity", "seed": 0},
        "port": {"kind": "inertial", "mass": 40.0, "resistance": 4.0, "dtau": 1.0},
        "train": {**_TRAIN, "schedule": "pipelined", "epochs": 20, "batch_size": 16},
    },
    "file": {  # the user's data: substrate train --data FILE (network.sizes set from the file)
        "data": {"name": "file", "path": "", "test_fraction": 0.3, "seed": 0},
        "network": {"sizes": [2, 16, 16, 2], "activation": "tanh", "output_activation": "identity", "seed": 0},
        "port": {"kind": "inertial", "mass": 20.0, "resistance": 2.0, "dtau": 1.0},
        "train": {**_TRAIN, "epochs": 30, "batch_size": 16},
    },
}

# key -> (types, low, high); None bounds are open
_SCHEMA = {
    "network": {"sizes": (list, None, None), "activation": (str, None, None), "output_activation": (str, None, None),
                "seed": (int, 0, None)},
    "train": {"substrate": (str, None, None), "schedule": (str, None, None), "epochs": (int, 1, None),
              "batch_size": (int, 1, None), "courant": ((int, float), 0.0, 2.0), "seed": (int, 0, None),
              "beta": ((int, float), 0.0, None), "wave_steps": (int, 1, None), "gradient_check": (bool, None, None),
              "record_every": (int, 1, None)},
}
_PORT_TYPES = {"kind": str, "resistance": (int, float), "mass": (int, float), "damping": (int, float),
               "dtau": (int, float), "leak": (int, float), "bounds": list, "levels": int,
               "resistance_tolerance": (int, float), "seed": int}
_CHOICES = {("train", "substrate"): tuple(SUBSTRATES), ("train", "schedule"): ("separated", "pipelined", "naive")}


def resolve(config: dict) -> dict:
    """Merge ``config`` over its preset (``data.name``) and validate every key; return the resolved config."""
    if not isinstance(config, dict):
        raise ConfigurationError(f"a config must be a table, got {type(config).__name__}")
    unknown = sorted(set(config) - {"data", "network", "port", "train", "circuit"})
    if unknown:
        raise ConfigurationError(f"{unknown[0]} is not a config table; valid: data, network, port, train, circuit")
    for table in config.values():
        if not isinstance(table, dict):
            raise ConfigurationError(f"config tables must be tables, got {table!r}")
    name = config.get("data", {}).get("name", "moons")
    if name not in PRESETS:
        raise ConfigurationError(f"data.name = {name!r} is unknown; valid: {sorted(PRESETS)}")
    resolved = copy.deepcopy(PRESETS[name])
    for table in ("data", "network", "train"):
        resolved[table].update(config.get(table, {}))
    port = config.get("port", {})
    if "kind" in port and port["kind"] != resolved["port"]["kind"]:
        resolved["port"] = dict(port)
    else:
        resolved["port"].update(port)

    # data: the loader's own options (validated by the loader, named data.<key>)
    allowed = set(inspect.signature(DATASETS[name]).parameters) | {"name"}
    for key in resolved["data"]:
        if key not in allowed:
            raise ConfigurationError(f"data.{key} is not an option of dataset {name!r}; valid: {sorted(allowed)}")
    for table, schema in _SCHEMA.items():
        for key, value in resolved[table].items():
            if key not in schema:
                raise ConfigurationError(f"{table}.{key} is not a valid key; valid: {sorted(schema)}")
            types, low, high = schema[key]
            check_type(f"{table}.{key}", value, types)
            if low is not None or high is not None:
                check_range(f"{table}.{key}", value, low, high, low_inclusive=not (table == "train" and key in ("courant", "beta")),
                            high_inclusive=key != "courant")
            if (table, key) in _CHOICES and value not in _CHOICES[(table, key)]:
                raise ConfigurationError(f"{table}.{key} = {value!r} is unknown; valid: {list(_CHOICES[(table, key)])}")
    for key in ("activation", "output_activation"):
        if resolved["network"][key] not in ACTIVATIONS:
            raise ConfigurationError(f"network.{key} = {resolved['network'][key]!r} is unknown; valid: {sorted(ACTIVATIONS)}")
    sizes = resolved["network"]["sizes"]
    if len(sizes) < 2 or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
        raise ConfigurationError(f"network.sizes = {sizes!r} must be at least two integers >= 1")
    for key, value in resolved["port"].items():
        if key in _PORT_TYPES:
            check_type(f"port.{key}", value, _PORT_TYPES[key])
    try:
        port_from_config(resolved["port"])
    except ConfigurationError as error:
        raise _named("port", error) from None
    if "circuit" in config:  # the physical realisation of a circuit substrate (SI units), validated by its substrate
        medium = SUBSTRATES[resolved["train"]["substrate"]]
        if not medium.integrates_ports:
            raise ConfigurationError(f"a [circuit] table is given but train.substrate = "
                                     f"{resolved['train']['substrate']!r} is not a circuit; circuit substrates: "
                                     f"{[name for name, kind in SUBSTRATES.items() if kind.integrates_ports]}")
        resolved["circuit"] = medium.read_circuit(config["circuit"]).to_config()
    return resolved


def _named(table: str, error: ConfigurationError) -> ConfigurationError:
    """The same error with the key named as ``table.key`` (``"noise = 7 ..."`` -> ``"data.noise = 7 ..."``)."""
    text = str(error)
    if text.startswith(f"{table}."):
        return error
    head = text.split(" ", 1)[0]
    return ConfigurationError(f"{table}.{text}" if head.isidentifier() else f"{table}: {text}")


def load_config(source: str | Path) -> dict:
    """Resolve a built-in name (``"moons"``), a ``.toml`` file or a ``.json`` file into a validated config."""
    text = str(source)
    if text in PRESETS:
        return resolve({"data": {"name": text}})
    path = Path(source)
    if not path.exists():
        raise ConfigurationError(f"{text!r} is neither a built-in task {sorted(PRESETS)} nor an existing file")
    text = read_text(path, "config file")
    try:
        if path.suffix == ".json":
            config = json.loads(text)
        else:
            config = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigurationError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {error}") from None
    return resolve(config)


def memory_needs(config: dict) -> dict[str, float]:
    """Estimated bytes a training run of ``config`` holds at once, per setting (see :mod:`substrate.resources`).

    Terms: the dataset (``data.n_samples`` samples, inputs and targets, and one forward pass over it
    for the per-epoch metrics), the parameters with their port state, the waves of a minibatch (and,
    pipelined, the delay stubs of ``2(L - k + 1)`` slots), and for a Gauss-Newton port the ``P x P``
    matrix and the batch's output Jacobian.
    """
    sizes = [int(n) for n in config["network"]["sizes"]]
    data = config["data"]
    defaults = inspect.signature(DATASETS[data["name"]]).parameters
    n_samples = data.get("n_samples", defaults["n_samples"].default if "n_samples" in defaults else 1797)
    train = config["train"]
    batch = int(train.get("batch_size", n_samples))
    depth = len(sizes) - 1
    n_params = sum(sizes[k] * sizes[k + 1] + sizes[k + 1] for k in range(depth))
    needs = {
        f"data.n_samples = {n_samples} (dataset and its forward pass)":
            FLOAT * n_samples * (4 * (sizes[0] + sizes[-1]) + 3 * max(sizes)),
        f"network.sizes = {sizes} (parameters and port state, {n_params} parameters)": FLOAT * 8 * n_params,
        f"train.batch_size = {batch} (waves of a minibatch)": FLOAT * 6 * batch * sum(sizes),
    }
    if train.get("schedule") in ("pipelined", "naive"):
        stubs = sum(2 * (depth - k + 1) * (sizes[k - 1] + sizes[k]) for k in range(1, depth + 1))
        needs[f"train.batch_size = {batch} with network.sizes = {sizes} (pipeline delay stubs)"] = FLOAT * 2 * batch * stubs
    if config["port"].get("kind") == "gauss_newton":
        needs[f"port.kind = 'gauss_newton' with network.sizes = {sizes} (the P x P Gauss-Newton matrix, P = {n_params})"] = \
            FLOAT * (2 * n_params ** 2 + 3 * batch * sizes[-1] * n_params)
    return needs


def build(config: dict):
    """The objects a resolved config describes: ``(net, dataset, port, train_options)``.

    Checks, before building anything large: the estimated memory (:func:`memory_needs`) against the
    memory available, then the cross-field rules (network against dataset, schedule against
    substrate, courant and port, batch against the training set), so a run directory is written only
    for a config that can run.
    """
    check_memory(memory_needs(config))
    data = dict(config["data"])
    try:
        dataset = load(data.pop("name"), **data)
    except ConfigurationError as error:
        raise _named("data", error) from None
    network = config["network"]
    sizes, options = network["sizes"], dict(config["train"])
    if dataset.n_inputs != sizes[0] or dataset.n_outputs != sizes[-1]:
        raise ShapeError(f"network.sizes = {sizes} does not fit dataset {dataset.name!r}: it has {dataset.n_inputs} "
                         f"inputs and {dataset.n_outputs} outputs, so sizes must start with {dataset.n_inputs} and end "
                         f"with {dataset.n_outputs}")
    schedule, courant = options["schedule"], options["courant"]
    if options["substrate"] == "dyadic" and schedule != "separated":
        raise ConfigurationError(f"train.substrate = 'dyadic' runs only train.schedule = 'separated', got {schedule!r}")
    if schedule != "separated" and courant != 1.0:
        raise ConfigurationError(f"train.courant = {courant} with train.schedule = {schedule!r}: the {schedule} "
                                 "schedule runs at courant 1 (only 'separated' takes other values)")
    if config["port"].get("kind") == "gauss_newton" and schedule != "separated":
        raise ConfigurationError(f"port.kind = 'gauss_newton' needs its batch's curvature: train.schedule must be "
                                 f"'separated', got {schedule!r}")
    try:
        with warnings.catch_warnings():  # the trainer warns about (1, 2) itself; here only the floor is refused
            warnings.simplefilter("ignore", SubstrateWarning)
            check_courant("train.courant", courant, len(sizes) - 1)
    except ConfigurationError as error:
        raise ConfigurationError(f"{error} (network.sizes = {sizes})") from None
    steps, depth = options.get("wave_steps"), len(sizes) - 1
    if options["substrate"] == "worldsheet" and schedule == "separated" and steps is not None and \
            steps < (needed := relaxation_steps(depth, courant, 1e-3)):
        warn(f"train.wave_steps = {steps} at train.courant = {courant}: fewer than the {needed} wave steps that "
             f"decay an initial wave error by 1e-3 at depth L = {depth}; the gradients are approximate (the run "
             "reports gradient_error)")
    if options.get("batch_size", 1) > len(dataset.x_train):
        raise ConfigurationError(
            f"train.batch_size = {options['batch_size']} is outside the valid range [1, {len(dataset.x_train)}] "
            f"(the training set of {dataset.name!r})"
        )
    net = MLP(sizes, network["activation"], network["output_activation"], seed=network["seed"])
    port = port_from_config(config["port"])
    medium = get_substrate(options["substrate"], config.get("circuit"))
    medium.check(schedule, port, depth)
    if medium.integrates_ports:
        options["circuit"] = medium.circuit.to_config()
    return net, dataset, port, options
