"""substrate: simulate physical substrates in which backpropagation happens as physics.

The model hierarchy of the package (see ``docs/architecture.md``):

- :mod:`substrate.network`: the one network description (layers, losses) and reference backprop;
- :mod:`substrate.discrete`: level 0, the discrete worldsheet (wave iteration, Courant number);
- :mod:`substrate.lumped`: level 1, the dyadic RC relaxation (``solve_ivp``);
- :mod:`substrate.distributed`: level 2, telegrapher lines by the method of lines;
- the sister package :mod:`circuits`: level 3, element netlists run by ngspice.
"""

from .discrete import RelaxationHistory, Worldsheet
from . import datasets, ports
from .errors import ConfigurationError, NumericalError, ShapeError, SubstrateError, SubstrateWarning
from .lumped import Dyadic, DyadicSolution
from .network import (
    MLP, Dense, Network, Residual, WaveState, backprop, gradient_error, loss_value, residual_network,
    load_network, save_network,
)

from .learning import History, TrainingInterrupted, train
from .sweeps import sweep

__version__ = "0.1.0"

__all__ = [
    "MLP", "Network", "Dense", "Residual", "residual_network", "save_network", "load_network", "backprop", "loss_value", "gradient_error",
    "WaveState", "Worldsheet", "RelaxationHistory", "Dyadic", "DyadicSolution",
    "train", "History", "TrainingInterrupted", "ports", "datasets", "sweep",
    "SubstrateError", "ConfigurationError", "ShapeError", "NumericalError", "SubstrateWarning",
]
