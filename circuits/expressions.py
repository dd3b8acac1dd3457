"""ngspice B-source expressions for activations, their slopes and loss gradients.

Every numeric constant goes through :func:`circuits.spice.format_number` (full precision, exponent
form); activations are written in overflow-free forms (the logistic function as ``0.5 + 0.5 tanh(z/2)``,
softplus as ``max(z, 0) + ln(1 + exp(-|z|))``, the softmax of the cross-entropy gradient with the largest
logit subtracted).
"""

from __future__ import annotations

from substrate.errors import ConfigurationError

from .spice import format_number as num

__all__ = ["activation", "slope", "linear", "loss_gradient"]


def activation(name: str, z: str) -> str:
    """Expression for ``f(z)`` where ``z`` is an expression."""
    if name == "identity":
        return f"({z})"
    if name == "tanh":
        return f"tanh({z})"
    if name == "sigmoid":
        return f"(0.5+0.5*tanh(0.5*({z})))"
    if name == "relu":
        return f"max({z},0)"
    if name == "softplus":
        return f"(max({z},0)+ln(1+exp(-abs({z}))))"
    raise ConfigurationError(f"activation {name!r} has no circuit realisation (identity, tanh, sigmoid, relu, softplus)")


def slope(name: str, z: str) -> str:
    """Expression for ``f'(z)``."""
    if name == "identity":
        return "1"
    if name == "tanh":
        return f"(1-tanh({z})*tanh({z}))"
    if name in ("sigmoid", "softplus"):
        s = f"(0.5+0.5*tanh(0.5*({z})))"
        return s if name == "softplus" else f"({s}*(1-{s}))"
    if name == "relu":
        return f"u({z})"
    raise ConfigurationError(f"activation {name!r} has no circuit realisation (identity, tanh, sigmoid, relu, softplus)")


def linear(coefficients, terms, constant=None) -> str:
    """``c_0*t_0 + c_1*t_1 + ... + constant``; terms are expressions, coefficients numbers (written at
    full precision) or expressions (e.g. a weight capacitor's voltage ``v(w1_0_0)``)."""
    parts = [f"{c if isinstance(c, str) else num(c)}*{t}" for c, t in zip(coefficients, terms)]
    if constant is not None:
        parts.append(constant if isinstance(constant, str) else num(constant))
    return "+".join(parts) if parts else "0"


def loss_gradient(loss: str, outputs: list[str], target, index: int) -> str:
    """Expression for ``dc/da_index`` of the per-sample cost at output expressions ``outputs``.

    ``target`` is the sample's target row in the loss's internal form (one-hot for cross-entropy): numbers,
    or expressions (e.g. ``v(y0)``, a target source).
    """
    wanted = target[index] if isinstance(target[index], str) else num(target[index])
    if loss == "mse":
        return f"({outputs[index]}-{wanted})"
    if loss == "cross_entropy":
        # softmax with the largest logit subtracted: ngspice clamps exp near 228, so exp(o) alone
        # overflows to wrong ratios for logits of a few hundred
        top = outputs[-1]
        for o in reversed(outputs[:-1]):
            top = f"max({o},{top})"
        shifted = [f"exp({o}-{top})" for o in outputs]
        return f"({shifted[index]}/({'+'.join(shifted)})-{wanted})"
    raise ConfigurationError(f"loss {loss!r} has no circuit realisation (mse, cross_entropy)")
