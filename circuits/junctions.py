"""Compiled junction field shared by the native trainer engines (transmission-line and RC).

Every junction of the exported trainers (:func:`circuits.realize.tline_trainer`,
:func:`circuits.realize.rc_trainer`) is algebraic in the waves that arrive at it and in the parameter
voltages: junction ``k`` emits ``f(W_k a_{k-1} + b_k)`` forward and ``W_k^T (f'(z_k) * s_k)`` backward,
the loss port emits ``beta dc/da_L``, and each parameter port sees the batch-mean effort
``e = (1/beta) mean_n (f' * s) a_prev``. :func:`junction_field` is that map, once, for both engines:
the T-line engine feeds it the waves arriving from its delay lines, the RC engine its node voltages.

Array layout. Every wave and parameter array has a last, contiguous *lane* axis ``c = n I + p`` over
the sample copies ``n`` of ``I`` independent circuit instances ``p`` (the instance index innermost),
so every inner loop of the kernels runs over all lanes and the compiler vectorises it, across
instances and across samples alike:

- parameters ``theta[q, c]`` (each instance's value repeated on its ``B`` sample lanes by
  :func:`replicate`; the integrated state itself is per instance, ``(S, I)``): layer k's
  weight ``W[i, j]`` at ``q = param_offset[k] + i n_in + j``, its bias ``b[i]`` at
  ``param_offset[k] + n_out n_in + i``;
- waves ``wave[r, c]``: neuron ``r = node_offset[k] + i`` of link ``k`` (0-based);
- ``table[k] = (n_in, n_out, param_offset, node_offset)`` and ``activations[k]`` an activation code.

Per-instance and per-parameter arrays (port rates ``(P, I)``, loss-port gains per lane) are where
variations of a circuit (tolerances, mismatch) enter without changing the kernels.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from substrate.errors import ConfigurationError

__all__ = ["ACTIVATION_CODES", "LOSS_CODES", "Layout", "activation", "junction_field", "field_at", "port_field",
           "field_scratch", "replicate", "mean_efforts", "batch_cost", "costs_at", "tanh", "tanh_fraction", "squash",
           "fma"]

ACTIVATION_CODES = {"identity": 0, "tanh": 1, "sigmoid": 2, "relu": 3, "softplus": 4}
LOSS_CODES = {"mse": 0, "cross_entropy": 1}


class Layout:
    """The packed description of a dense network for the kernels.

    Parameters
    ----------
    net : Network
        Dense layers with activations in :data:`ACTIVATION_CODES`.

    Attributes
    ----------
    table : ndarray of int64, shape (L, 4)
        ``(n_in, n_out, param_offset, node_offset)`` per layer.
    activations : ndarray of int64, shape (L,)
    n_params, n_nodes : int
        Scalar parameters in all layers; neurons on all links ``1..L``.
    """

    def __init__(self, net):
        rows, codes, params, nodes = [], [], 0, 0
        for k, layer in enumerate(net.layers, start=1):
            if layer.kind != "dense":
                raise ConfigurationError(f"layer {k} is {layer.kind!r}: the trainer circuits realise dense layers only")
            if layer.activation.name not in ACTIVATION_CODES:
                raise ConfigurationError(f"layer {k} activation {layer.activation.name!r} has no compiled form; "
                                         f"valid: {sorted(ACTIVATION_CODES)}")
            rows.append((layer.n_in, layer.n_out, params, nodes))
            codes.append(ACTIVATION_CODES[layer.activation.name])
            params += layer.n_out * (layer.n_in + 1)
            nodes += layer.n_out
        self.sizes = list(net.sizes)
        self.names = [layer.activation.name for layer in net.layers]
        self.shapes = [p.shape for layer in net.layers for p in (layer.weight, layer.bias)]
        self.counts = [math.prod(shape) for shape in self.shapes]
        self.table = np.array(rows, dtype=np.int64)
        self.activations = np.array(codes, dtype=np.int64)
        self.n_params, self.n_nodes = params, nodes
        self.width = max(self.sizes)

    def pack(self, nets) -> np.ndarray:
        """Parameters of each network in ``nets`` as an array of shape ``(n_params, instances)``.

        Comprehensions over the instances and one ``numpy.array`` copy per parameter array of the architecture:
        thousands of instances pack in about a millisecond.
        """
        depth, nets = len(self.names), list(nets)
        layer_lists = [net.layers for net in nets]
        names = [layer.activation.name for layers in layer_lists for layer in layers]
        if any(len(layers) != depth for layers in layer_lists) or names != self.names * len(nets):
            self._refuse(nets, lambda net: [layer.activation.name for layer in net.layers] != self.names)
        columns = []
        for k in range(depth):
            for slot, shape in (([layers[k].weight for layers in layer_lists], self.shapes[2 * k]),
                                ([layers[k].bias for layers in layer_lists], self.shapes[2 * k + 1])):
                try:
                    stacked = np.array(slot, dtype=float)
                except ValueError:  # the shapes differ
                    stacked = None
                if stacked is None or stacked.shape[1:] != shape:
                    self._refuse(nets, lambda net: list(net.sizes) != self.sizes)
                columns.append(stacked.reshape(len(nets), -1))
        return np.ascontiguousarray(np.concatenate(columns, axis=1).T)

    def _refuse(self, nets, differs):
        """Raise for the first instance for which ``differs(net)``."""
        p = next(p for p, net in enumerate(nets) if differs(net))
        raise ConfigurationError(f"instance {p} has sizes {nets[p].sizes}, activations differing from instance 0's "
                                 f"{self.sizes}: all instances must share the architecture")

    @classmethod
    def of(cls, net) -> "Layout":
        """The (cached) layout of ``net``'s architecture: built and validated once per architecture."""
        key = tuple((layer.kind, layer.n_in, layer.n_out, layer.activation.name) for layer in net.layers)
        layout = _LAYOUTS.get(key)
        if layout is None:
            layout = _LAYOUTS[key] = cls(net)
        return layout

    def unpack(self, flat: np.ndarray) -> list[np.ndarray]:
        """Split ``flat[..., q, p]`` into arrays aligned with ``net.params``: ``(...) + shape + (instances,)``."""
        out, start = [], 0
        for shape, size in zip(self.shapes, self.counts):
            block = flat[..., start:start + size, :]
            out.append(block.reshape(flat.shape[:-2] + shape + flat.shape[-1:]))
            start += size
        return out

    def links(self, waves: np.ndarray) -> list[np.ndarray]:
        """Split ``waves[..., r, n, p]`` (neuron, sample, instance) into one array per link, ``(..., p, n, n_k)``."""
        return [waves[..., row[3]:row[3] + row[1], :, :].swapaxes(-3, -1) for row in self.table]


_LAYOUTS: dict = {}  # Layout per architecture (Layout.of)

_LOG2E = 1.4426950408889634
# ln 2 as one double: the reduction r = u - n ln2 is then off by at most n 2.3e-17 (n <= 58), which moves tanh by
# under 0.1 ulp (its sensitivity to a relative error in e^u is 2 e^-u / (1 + e^-u)^2 <= 2 e^-u, and u ~ n ln 2),
# so the usual two-part (Cody-Waite) constant would buy nothing here; measured the same 2 ulp against numpy
_LN2 = 0.6931471805599453
# (expm1(r) - r) / r^2 on |r| <= ln(2)/2 as a degree-9 polynomial, highest coefficient first: interpolation at
# the 10 Chebyshev nodes, computed in 50-digit arithmetic (mpmath); expm1 = r + r^2 q is then within 4.1e-17
# relative of the exact value (the rounded coefficients included), two terms shorter than Taylor's series
_EXPM1_POLYNOMIAL = (2.5100375832561234e-08, 2.7620075879983367e-07, 2.7557268480310024e-06, 2.4801521322368692e-05,
                     0.00019841269863040545, 0.0013888888917196719, 0.008333333333330065, 0.041666666666624164,
                     0.16666666666666669, 0.5000000000000001)


@intrinsic
def fma(typingctx, a, b, c):
    """``a b + c`` rounded once (``llvm.fma``; a vector instruction in vectorised loops).

    Written out where results must not depend on how the compiler contracts multiply-adds: every loop
    using it rounds alike, vectorised or not (the specialised fields, :mod:`circuits.specialise`).
    """
    signature = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, sig, args):
        double = ir.DoubleType()
        fused = builder.module.declare_intrinsic("llvm.fma", [double], ir.FunctionType(double, [double] * 3))
        return builder.call(fused, [context.cast(builder, value, kind, types.float64)
                                    for value, kind in zip(args, sig.args)])

    return signature, codegen


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def tanh_fraction(z):
    """``(numerator, denominator)`` with ``tanh(z) = numerator / denominator``, the division left to the caller.

    ``tanh(z) = sign(z) expm1(u) / (expm1(u) + 2)`` with ``u = 2 |z|`` clamped to ``u <= 40`` (beyond,
    tanh is 1 to double precision) and ``expm1(u) = 2^n (expm1(r) + 1) - 1``, ``u = n ln 2 + r``,
    ``|r| <= ln(2)/2``, ``expm1(r) = r + r^2 q(r)`` with ``q`` of degree 9 interpolated at the Chebyshev
    nodes (within 4.1e-17 relative; Horner steps contracted to fused multiply-adds). ``u >= 0``, so
    ``n >= 0``: ``2^n`` is an exact integer power (no reciprocal) and nothing cancels. The denominator lies
    in ``[2, 2.4e17]``, so the
    denominators of up to 17 values multiply without overflow (one reciprocal for a layer:
    :mod:`circuits.specialise`).
    """
    u = min(2.0 * abs(z), 40.0)
    n = np.floor(u * _LOG2E + 0.5)
    r = u - n * _LN2
    q = _EXPM1_POLYNOMIAL[0]
    for c in _EXPM1_POLYNOMIAL[1:]:
        q = q * r + c
    power = np.float64(np.int64(1) << np.int64(n))
    expm1 = power * (r + r * r * q) + (power - 1.0)
    return (expm1 if z >= 0.0 else -expm1), expm1 + 2.0


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def tanh(z):
    """``tanh(z)`` in plain arithmetic (:func:`tanh_fraction`), so loops calling it vectorise without a vector
    math library; within a few ulp of ``numpy.tanh`` everywhere (tested). One division per value: the
    loops calling it run at about 1 ns per value."""
    numerator, denominator = tanh_fraction(z)
    return numerator / denominator


@njit(cache=True, error_model="numpy", fastmath={"contract"}, inline="always")
def squash(code, t):
    """``(f(z), f'(z))`` of the tanh-family activations from ``t = tanh(z)`` (``code`` 1, tanh) or
    ``t = tanh(z / 2)`` (``code`` 2, the logistic function ``(1 + tanh(z/2)) / 2``)."""
    if code == 1:
        return t, 1.0 - t * t
    v = 0.5 * (1.0 + t)
    return v, v * (1.0 - v)


@njit(cache=True, error_model="numpy", fastmath={"contract"}, inline="always")
def activation(code, z):
    """``(f(z), f'(z))`` of the activation with :data:`ACTIVATION_CODES` value ``code`` (one lane).

    The one definition of the compiled activations: the generic field branches on ``code`` outside its
    lane loops and calls this with a constant, the specialised fields (:mod:`circuits.specialise`) with
    their layer's constant, so the branch folds away in both.
    """
    if code == 0:
        return z, 1.0
    if code == 1:
        return squash(1, tanh(z))
    if code == 2:
        return squash(2, tanh(0.5 * z))
    if code == 3:
        return (z, 1.0) if z > 0.0 else (0.0, 0.0)
    return max(z, 0.0) + np.log1p(np.exp(-abs(z))), 0.5 * (1.0 + tanh(0.5 * z))


@njit(cache=True, error_model="numpy", inline="always")
def _activate(code, scratch, rows, lanes):
    """``scratch[1] = f(scratch[0])``, ``scratch[2] = f'(scratch[0])`` on the first ``rows`` rows (branch outside)."""
    for i in range(rows):
        if code == 0:
            for c in range(lanes):
                scratch[1, i, c], scratch[2, i, c] = activation(0, scratch[0, i, c])
        elif code == 1:
            for c in range(lanes):
                scratch[1, i, c], scratch[2, i, c] = activation(1, scratch[0, i, c])
        elif code == 2:
            for c in range(lanes):
                scratch[1, i, c], scratch[2, i, c] = activation(2, scratch[0, i, c])
        elif code == 3:
            for c in range(lanes):
                scratch[1, i, c], scratch[2, i, c] = activation(3, scratch[0, i, c])
        else:
            for c in range(lanes):
                scratch[1, i, c], scratch[2, i, c] = activation(4, scratch[0, i, c])


@njit(cache=True, error_model="numpy")
def junction_field(table, activations, loss_code, beta, theta, x, target, arrive_f, arrive_b, emit_f, emit_b,
                   effort, with_effort, scratch):
    """Emissions of every junction and (optionally) each lane's contribution to the port efforts.

    Parameters
    ----------
    table, activations : int64 arrays
        :class:`Layout` ``table`` and ``activations``.
    loss_code : int
        :data:`LOSS_CODES` value of the loss port.
    beta : ndarray, shape (C,)
        Loss-port gain per lane.
    theta : ndarray, shape (>= P, C)
        Parameter voltages (rows beyond ``P`` are ignored).
    x : ndarray, shape (n_0, C)
        Input applied at junction 1.
    target : ndarray, shape (n_L, C)
    arrive_f, arrive_b : ndarray, shape (N, C)
        Forward waves arriving at the far end of each link (the next junction's input) and backward waves
        arriving at each junction.
    emit_f, emit_b : ndarray, shape (N, C)
        Written: forward emission of junction k into link k, backward emission into link k (junction k+1's
        backward source, or the loss port for the last link).
    effort : ndarray, shape (>= P, C)
        Written when ``with_effort``: this lane's ``(f' * s) a_prev / beta`` per parameter; the port
        effort is its mean over the instance's sample lanes (:func:`mean_efforts`).
    scratch : ndarray, shape (5, width, C)
        Work space, ``width`` the widest layer (:func:`field_scratch`).
    """
    field_at(table, activations, loss_code, beta, theta, x, target, arrive_f[np.newaxis, np.newaxis],
             arrive_b[np.newaxis, np.newaxis], 0, 0, emit_f[np.newaxis, np.newaxis], emit_b[np.newaxis, np.newaxis], 0, 0,
             effort, with_effort, scratch)


@njit(cache=True, error_model="numpy", inline="always")
def field_at(table, activations, loss_code, beta, theta, x, target, arrive_f, arrive_b, slot, kind, emit_f, emit_b,
             emit_slot, emit_kind, effort, with_effort, scratch):
    """:func:`junction_field` with the arrivals ``arrive_f[slot, kind]``, ``arrive_b[slot, kind]`` of 4-d stores
    and the emissions written to ``emit_f[emit_slot, emit_kind]``, ``emit_b[emit_slot, emit_kind]`` (the stores
    may be the arrivals' own, at another slot).

    The one implementation of the junction map. Every array is indexed in place (no views: a view costs
    a reference count, which dominated the T-line engine's steps on small circuits).
    """
    lanes = theta.shape[1]
    depth = table.shape[0]
    if with_effort:  # 1 / beta once per lane, not a division per neuron
        for c in range(lanes):
            scratch[4, 0, c] = 1.0 / beta[c]
    # loops fused where they share an index (the first product with the bias, the emission with the
    # sensitivity and its effort scale): the same operations in the same order, fewer loop set-ups
    for k in range(depth):
        n_in, n_out, w0, node = table[k, 0], table[k, 1], table[k, 2], table[k, 3]
        b0 = w0 + n_out * n_in
        before = table[k - 1, 3] if k > 0 else 0
        for i in range(n_out):
            for j in range(n_in):
                q = w0 + i * n_in + j
                if k == 0 and j == 0:
                    for c in range(lanes):
                        scratch[0, i, c] = theta[b0 + i, c] + theta[q, c] * x[0, c]
                elif k == 0:
                    for c in range(lanes):
                        scratch[0, i, c] += theta[q, c] * x[j, c]
                elif j == 0:
                    for c in range(lanes):
                        scratch[0, i, c] = theta[b0 + i, c] + theta[q, c] * arrive_f[slot, kind, before, c]
                else:
                    for c in range(lanes):
                        scratch[0, i, c] += theta[q, c] * arrive_f[slot, kind, before + j, c]
        _activate(activations[k], scratch, n_out, lanes)
        for i in range(n_out):
            if with_effort:  # the bias port's effort is the scaled sensitivity itself
                for c in range(lanes):
                    emit_f[emit_slot, emit_kind, node + i, c] = scratch[1, i, c]
                    delta = scratch[2, i, c] * arrive_b[slot, kind, node + i, c]
                    scratch[3, i, c] = delta
                    scratch[1, i, c] = delta * scratch[4, 0, c]  # the value row is free once emitted
                    effort[b0 + i, c] = scratch[1, i, c]
                for j in range(n_in):
                    if k == 0:
                        for c in range(lanes):
                            effort[w0 + i * n_in + j, c] = scratch[1, i, c] * x[j, c]
                    else:
                        for c in range(lanes):
                            effort[w0 + i * n_in + j, c] = scratch[1, i, c] * arrive_f[slot, kind, before + j, c]
            else:
                for c in range(lanes):
                    emit_f[emit_slot, emit_kind, node + i, c] = scratch[1, i, c]
                    scratch[3, i, c] = scratch[2, i, c] * arrive_b[slot, kind, node + i, c]
        if k > 0:
            for j in range(n_in):
                for c in range(lanes):
                    emit_b[emit_slot, emit_kind, before + j, c] = theta[w0 + j, c] * scratch[3, 0, c]
                for i in range(1, n_out):
                    for c in range(lanes):
                        emit_b[emit_slot, emit_kind, before + j, c] += theta[w0 + i * n_in + j, c] * scratch[3, i, c]
    # the loss port at the far end of the last link
    n_last, last = table[depth - 1, 1], table[depth - 1, 3]
    if loss_code == 0:
        for i in range(n_last):
            for c in range(lanes):
                emit_b[emit_slot, emit_kind, last + i, c] = beta[c] * (arrive_f[slot, kind, last + i, c] - target[i, c])
    else:  # softmax: scratch[0, 0] holds the lane's maximum, scratch[1, 0] its sum of exponentials
        for c in range(lanes):
            scratch[0, 0, c] = arrive_f[slot, kind, last, c]
        for i in range(1, n_last):
            for c in range(lanes):
                scratch[0, 0, c] = max(scratch[0, 0, c], arrive_f[slot, kind, last + i, c])
        for c in range(lanes):
            scratch[1, 0, c] = 0.0
        for i in range(n_last):
            for c in range(lanes):
                scratch[1, 0, c] += np.exp(arrive_f[slot, kind, last + i, c] - scratch[0, 0, c])
        for i in range(n_last):
            for c in range(lanes):
                emit_b[emit_slot, emit_kind, last + i, c] = beta[c] * (np.exp(arrive_f[slot, kind, last + i, c] - scratch[0, 0, c])
                                                 / scratch[1, 0, c] - target[i, c])


@njit(cache=True, error_model="numpy", inline="always")
def port_field(table, activations, loss_code, beta, state, x, target, arrive_f, arrive_b, slot, kind, emit_f, emit_b,
               emit_slot, emit_kind, port_effort, with_effort, with_emission, theta, effort, scratch):
    """The junction field at per-instance parameters, with the port efforts as their batch means.

    :func:`replicate` of ``state`` (``(>= P, I)``) into ``theta`` (``(P, C)``), :func:`field_at` and, when
    ``with_effort``, :func:`mean_efforts` into ``port_effort`` (``(P, I)``); ``theta``, ``effort`` and
    ``scratch`` are work space. ``with_emission`` False says the caller does not read ``emit_f``,
    ``emit_b`` (a specialised field skips them; this one writes them regardless). The unit a kernel
    specialised to one architecture replaces (:mod:`circuits.specialise` generates the same map as one
    straight-line loop over the lanes).
    """
    n_params, batch = port_effort.shape[0], x.shape[1] // state.shape[1]
    replicate(state, n_params, batch, theta)
    field_at(table, activations, loss_code, beta, theta, x, target, arrive_f, arrive_b, slot, kind, emit_f, emit_b,
             emit_slot, emit_kind, effort, with_effort, scratch)
    if with_effort:
        mean_efforts(effort, n_params, batch, port_effort)


@njit(cache=True, error_model="numpy", inline="always")
def replicate(state, n_params, batch, theta):
    """``theta[q, n I + p] = state[q, p]``: each instance's parameters on its ``batch`` sample lanes."""
    instances = state.shape[1]
    for q in range(n_params):
        if instances == 1:  # one instance: fill the row (one loop instead of ``batch`` one-element loops)
            value = state[q, 0]
            for c in range(batch):
                theta[q, c] = value
        else:
            for n in range(batch):
                for p in range(instances):
                    theta[q, n * instances + p] = state[q, p]


@njit(cache=True, error_model="numpy", inline="always")
def mean_efforts(effort, n_params, batch, out):
    """``out[q, p] = (1/B) sum_n effort[q, n I + p]``: the port effort of each instance, the batch mean."""
    instances = out.shape[1]
    for q in range(n_params):
        if instances == 1:
            total = 0.0
            for c in range(batch):
                total += effort[q, c]
            out[q, 0] = total / batch
        else:
            for p in range(instances):
                out[q, p] = effort[q, p]
            for n in range(1, batch):
                for p in range(instances):
                    out[q, p] += effort[q, n * instances + p]
            for p in range(instances):
                out[q, p] /= batch


@njit(cache=True, error_model="numpy")
def field_scratch(table, lanes):
    """Work space of :func:`junction_field`: ``(5, width, lanes)``, ``width`` the widest layer output.

    Rows: pre-activations, values (then the effort scale), slopes, sensitivities ``delta = f' * s``
    (left there for callers), and in ``[4, 0]`` the lanes' ``1 / beta``.
    """
    width = 1
    for k in range(table.shape[0]):
        width = max(width, table[k, 1])
    return np.empty((5, width, lanes))


@njit(cache=True, error_model="numpy", inline="always")
def lane_cost(loss_code, waves, slot, kind, row, n_last, target, c):
    """Cost ``c(a_L, y)`` of lane ``c`` with ``a_L = waves[slot, kind, row:row + n_last, c]``."""
    if loss_code == 0:
        cost = 0.0
        for i in range(n_last):
            d = waves[slot, kind, row + i, c] - target[i, c]
            cost += 0.5 * d * d
        return cost
    top = waves[slot, kind, row, c]
    for i in range(1, n_last):
        top = max(top, waves[slot, kind, row + i, c])
    total = 0.0
    for i in range(n_last):
        total += np.exp(waves[slot, kind, row + i, c] - top)
    cost = 0.0
    for i in range(n_last):
        cost -= target[i, c] * (waves[slot, kind, row + i, c] - top - np.log(total))
    return cost


@njit(cache=True, error_model="numpy", inline="always")
def costs_at(loss_code, waves, slot, kind, row, n_last, target, batch, out, r, offset):
    """Batch-mean cost per instance into ``out[r, offset:offset + I]`` from ``waves[slot, kind, row:row + n_last]``.

    ``waves`` has lanes last (``C = batch I``); ``offset`` places a block of ``I`` instances in ``out``.
    """
    instances = waves.shape[3] // batch
    for p in range(instances):
        out[r, np.uint64(offset + p)] = 0.0  # unsigned: no wrap-around of negative indices (a contiguous loop)
    half_mean = 0.5 / batch
    # lane c = n I + p: loops over the samples n, then the instances p (contiguous, vectorised for mse)
    for n in range(batch):
        if loss_code == 0:
            for i in range(n_last):
                for p in range(instances):
                    d = waves[slot, kind, row + i, n * instances + p] - target[i, n * instances + p]
                    out[r, np.uint64(offset + p)] += half_mean * (d * d)
        else:
            for p in range(instances):
                out[r, np.uint64(offset + p)] += lane_cost(loss_code, waves, slot, kind, row, n_last, target,
                                                           n * instances + p) / batch


@njit(cache=True, error_model="numpy")
def batch_cost(loss_code, a_last, target, batch, out):
    """Batch-mean cost ``mean_n c(a_L, y)`` per instance into ``out`` (shape (I,)); ``a_last`` is (n_L, C)."""
    costs_at(loss_code, a_last[np.newaxis, np.newaxis], 0, 0, 0, a_last.shape[0], target, batch, out[np.newaxis], 0, 0)
