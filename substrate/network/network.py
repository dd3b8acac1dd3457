"""Networks as chains of layer maps: the one network description every fidelity reads."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import ConfigurationError, ShapeError
from .activations import Activation, get_activation
from .layers import Dense, Residual

__all__ = ["Network", "MLP", "residual_network"]


class Network:
    """A chain of layers ``a_k = phi_k(a_{k-1})``, ``k = 1..L``.

    Parameters
    ----------
    layers : sequence of Dense or Residual
        The layer maps in order from input to output; widths must chain.
    """

    def __init__(self, layers: Sequence[Dense]):
        layers = list(layers)
        if not layers:
            raise ConfigurationError("a network needs at least one layer, got none")
        for k in range(1, len(layers)):
            if layers[k].n_in != layers[k - 1].n_out:
                raise ShapeError(
                    f"layer {k + 1} takes {layers[k].n_in} inputs but layer {k} gives {layers[k - 1].n_out}"
                )
        self.layers = layers

    @property
    def depth(self) -> int:
        """Number of layers ``L``."""
        return len(self.layers)

    @property
    def sizes(self) -> list[int]:
        """Link widths ``[n_0, n_1, ..., n_L]``."""
        return [self.layers[0].n_in] + [layer.n_out for layer in self.layers]

    @property
    def params(self) -> list[np.ndarray]:
        """The parameter arrays ``[W1, b1, ..., WL, bL]`` (the live arrays, not copies)."""
        return [p for layer in self.layers for p in layer.params]

    @params.setter
    def params(self, new: Sequence[np.ndarray]) -> None:
        new = list(new)
        old = self.params
        if len(new) != len(old):
            raise ShapeError(f"expected {len(old)} parameter arrays, got {len(new)}")
        arrays = []
        for i, (p_old, p_new) in enumerate(zip(old, new)):
            p_new = np.array(p_new, dtype=float)
            if p_new.shape != p_old.shape:
                raise ShapeError(f"parameter {i} must have shape {p_old.shape}, got {p_new.shape}")
            arrays.append(p_new)
        for k, layer in enumerate(self.layers):
            layer.weight, layer.bias = arrays[2 * k], arrays[2 * k + 1]

    @property
    def n_params(self) -> int:
        """Total number of scalar parameters."""
        return sum(p.size for p in self.params)

    def check_input(self, x) -> np.ndarray:
        """Return ``x`` as a float array of shape ``(batch, n_0)`` or raise :class:`ShapeError`."""
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.sizes[0]:
            raise ShapeError(f"inputs must have shape (batch, {self.sizes[0]}), got {x.shape}")
        return x

    def forward(self, x) -> np.ndarray:
        """Return the output ``a_L`` for inputs ``x`` of shape ``(batch, n_0)``."""
        a = self.check_input(x)
        for layer in self.layers:
            a = layer.output(a)
        return a

    def copy(self) -> "Network":
        """Return an independent copy (parameters copied)."""
        clone = Network.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.layers = []
        for layer in self.layers:
            twin = type(layer).__new__(type(layer))
            twin.__dict__.update(layer.__dict__)
            twin.weight, twin.bias = layer.weight.copy(), layer.bias.copy()
            clone.layers.append(twin)
        return clone

    def __repr__(self) -> str:
        kinds = ", ".join(f"{layer.kind}({layer.n_in}->{layer.n_out}, {layer.activation.name})" for layer in self.layers)
        return f"{type(self).__name__}([{kinds}])"


class MLP(Network):
    """Multilayer perceptron of dense layers.

    Parameters
    ----------
    sizes : sequence of int
        Widths ``[n_0, n_1, ..., n_L]`` (at least two entries, all >= 1).
    activation : str or Activation
        Hidden nonlinearity: ``identity``, ``tanh``, ``sigmoid``, ``relu`` or ``softplus``.
    output_activation : str or Activation
        Nonlinearity of the last layer (``identity`` for regression and for cross-entropy logits).
    seed : int or numpy.random.Generator, optional
        Weights are drawn as ``N(0, 1/n_in)``; biases start at zero.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Activation = "tanh",
        output_activation: str | Activation = "identity",
        seed: int | np.random.Generator | None = None,
    ):
        sizes = list(sizes)
        if len(sizes) < 2 or any(int(n) != n or n < 1 for n in sizes):
            raise ConfigurationError(f"sizes = {sizes!r} must be at least two integers >= 1")
        activation, output_activation = get_activation(activation), get_activation(output_activation)
        rng = np.random.default_rng(seed)
        layers = []
        for k in range(1, len(sizes)):
            weight = rng.normal(0.0, 1.0 / np.sqrt(sizes[k - 1]), size=(sizes[k], sizes[k - 1]))
            f = output_activation if k == len(sizes) - 1 else activation
            layers.append(Dense(weight, np.zeros(sizes[k]), f))
        super().__init__(layers)


def residual_network(
    width: int,
    depth: int,
    activation: str = "tanh",
    step: float = 1.0,
    seed: int | np.random.Generator | None = None,
) -> Network:
    """A chain of ``depth`` residual layers of equal ``width`` (a discretised neural ODE)."""
    rng = np.random.default_rng(seed)
    return Network(
        [
            Residual(rng.normal(0.0, 1.0 / np.sqrt(width), (width, width)), np.zeros(width), activation, step)
            for _ in range(depth)
        ]
    )
