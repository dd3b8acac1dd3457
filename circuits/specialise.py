"""Kernels specialised to one network architecture: the junction field written out as straight-line code.

The generic junction field (:func:`circuits.junctions.field_at`) walks the layers with loops over the
neurons and, innermost, the lanes: every loop streams its rows through memory, and on a small network
(the XOR trainer's 2-3-1 has 13 parameters) the loop set-ups and the stores of pre-activations, values
and sensitivities are most of its time. For one architecture the neuron and layer loops can be
unrolled, with the lane loop outermost: a lane's pre-activations, values and sensitivities stay in
registers, every load of a parameter, wave or sample is made once, and the compiler vectorises the
whole straight-line body across lanes.

:func:`specialised` writes that field as Python source from a :class:`~circuits.junctions.Layout`
and re-compiles a kernel (for instance :func:`circuits.tline_engine.run_tline`) from its own source
text in a generated module where ``port_field`` is the specialised field. There is one source of each
kernel, and each element of the junction map stays defined once: the activations are
:func:`circuits.junctions.activation` (or, for a tanh or logistic layer, each neuron's
:func:`~circuits.junctions.tanh_fraction` with one shared division and
:func:`~circuits.junctions.squash`); the generated code is the dense layers' data flow, in the generic
field's order of operations except where stated (the results agree to rounding, tested). The module goes to a per-user cache directory under a name that hashes its text
and the sources it compiles in, so numba's on-disk cache (``cache=True``) compiles each architecture
once per machine and a changed package never loads a stale kernel.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import tempfile

import numba
from numba.core import cpu, registry

from substrate.errors import ConfigurationError

from . import junctions

__all__ = ["specialised", "field_source", "noalias_njit", "SPECIALISE_LIMIT", "kernel_directory"]

#: architectures with more scalar parameters than this keep the generic field (the straight-line body grows
#: with the parameter count, and its compile time with it; long layers vectorise well in the generic loops)
SPECIALISE_LIMIT = 64

#: batches up to this many samples are written out per instance (the samples' chains side by side in one
#: iteration over the instances); larger batches loop over the samples
UNROLL_LIMIT = 8

_MODULES: dict = {}  # (kernel, architecture) -> compiled kernel of this process


def kernel_directory() -> str:
    """Directory of the generated kernel modules: ``$SUBSTRATE_KERNEL_DIR``, else the user cache
    (``$XDG_CACHE_HOME/substrate/kernels`` or ``~/.cache/substrate/kernels``), else a temporary directory."""
    chosen = os.environ.get("SUBSTRATE_KERNEL_DIR")
    if chosen:
        candidates = [chosen]
    else:
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        candidates = [os.path.join(cache, "substrate", "kernels"),
                      os.path.join(tempfile.gettempdir(), f"substrate-kernels-{os.getuid() if hasattr(os, 'getuid') else 0}")]
    for directory in candidates:
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError:
            continue
        if os.access(directory, os.W_OK):
            return directory
    raise ConfigurationError(f"no writable directory for the generated kernels among {candidates}; "
                             "set SUBSTRATE_KERNEL_DIR to one")


def field_source(layout, loss_code: int, batch: int | None = None) -> str:
    """Source of ``port_field`` specialised to ``layout`` and the loss port ``loss_code``.

    Same signature and results as :func:`circuits.junctions.port_field` (``table``, ``activations``,
    ``loss_code`` and the work arrays ``theta`` and ``scratch`` are accepted and ignored: the architecture
    is in the code, and a lane's intermediate values stay in registers). Lane ``c = n I + p`` reads
    instance ``p``'s parameters from ``state``. Many instances: the loop over the instances is innermost
    (the compiler vectorises it); each instance's effort terms are summed in sample order and multiplied
    by ``1 / (beta B)``. With ``batch`` (the samples per instance, at most :data:`UNROLL_LIMIT`) the effort
    evaluations write the samples out per instance (parameters loaded once, the sums in registers) and
    the source serves that batch size alone (another raises). One instance (``I = 1``) has its own loop
    over the samples (vectorised across them; terms per lane in ``effort``, then summed alike).
    Evaluations without ``with_emission`` skip the emissions. A tanh or logistic layer divides once for up
    to 8 neurons. Multiply-adds (pre-activations, backward sums, effort terms) are written as
    :func:`circuits.junctions.fma`: one rounding, the same on every path.
    """
    table = [tuple(int(v) for v in row) for row in layout.table]
    codes = [int(c) for c in layout.activations]
    P = layout.n_params
    unrolled = batch if batch is not None and batch <= UNROLL_LIMIT else None
    # one-instance work rows: the deltas at rows node_offset + i, then the inputs of each layer k > 0
    input_row, row = {}, layout.n_nodes
    for k in range(1, len(table)):
        input_row[k], row = row, row + table[k][0]
    if row > P:  # cannot happen for dense layers (n_in n_out + n_out >= n_out + n_in), kept as a guard
        raise ConfigurationError(f"the one-instance work rows ({row}) exceed the effort rows ({P})")

    def activations(k: int, code: int, width: int) -> list[str]:
        """``value{k}_{i}, slope{k}_{i}`` of layer ``k``. A tanh or logistic layer shares one division among
        up to 8 neurons (each tanh is a fraction, :func:`circuits.junctions.tanh_fraction`; the reciprocal of
        the denominators' product gives every quotient by multiplications, Montgomery's batch inversion):
        the division is the slowest vector operation in the field. Other layers: ``activation``."""
        if code not in (1, 2) or width == 1:
            return [f"value{k}_{i}, slope{k}_{i} = activation({code}, z{k}_{i})" for i in range(width)]
        half = "" if code == 1 else "0.5 * "
        lines = [f"num{k}_{i}, den{k}_{i} = tanh_fraction({half}z{k}_{i})" for i in range(width)]
        for first in range(0, width, 8):
            group = list(range(first, min(first + 8, width)))
            lines.append(f"prod{k}_{group[0]} = den{k}_{group[0]}")
            lines += [f"prod{k}_{i} = prod{k}_{i - 1} * den{k}_{i}" for i in group[1:]]
            lines.append(f"inv{k} = 1.0 / prod{k}_{group[-1]}")
            for i in reversed(group[1:]):  # inv{k} holds 1 / (den_first ... den_i)
                lines.append(f"t{k}_{i} = num{k}_{i} * (prod{k}_{i - 1} * inv{k})")
                lines.append(f"inv{k} = inv{k} * den{k}_{i}")
            lines.append(f"t{k}_{group[0]} = num{k}_{group[0]} * inv{k}")
        lines += [f"value{k}_{i}, slope{k}_{i} = squash({code}, t{k}_{i})" for i in range(width)]
        return lines

    def body(with_effort: bool, with_emission: bool, mode: str) -> list[str]:
        """One lane ``c``'s statements. ``mode`` "single": one instance, parameters in locals ``s{q}``,
        effort terms per lane; "loop": instance ``p`` of lane ``c = n I + p``, effort terms summed in place;
        "unrolled": parameters in locals, effort terms summed in locals ``e{q}``."""
        lines = ["c = n * instances + p"] if mode == "loop" else []

        def param(q):
            return f"state[{q}, p]" if mode == "loop" else f"s{q}"

        def effort_term(q, delta, source=None):  # effort q gains delta (a bias) or delta * source (a weight)
            total = f"port_effort[{q}, p]" if mode == "loop" else f"e{q}"
            return f"{total} += {delta}" if source is None else f"{total} = fma({delta}, {source}, {total})"

        def affine(offset, weights, values):  # offset + w_0 v_0 + w_1 v_1 + ..., one rounding per term (fma)
            text = offset
            for weight, value in zip(weights, values):
                text = f"fma({weight}, {value}, {text})" if text else f"{weight} * {value}"
            return text

        def arrival(store, row):
            return f"{store}[slot, kind, {row}, c]"

        inputs = [f"x[{j}, c]" for j in range(table[0][0])]
        for k, (n_in, n_out, w0, node) in enumerate(table):
            b0 = w0 + n_out * n_in
            before = table[k - 1][3] if k > 0 else 0
            if k > 0:
                lines += [f"in{k}_{j} = {arrival('arrive_f', before + j)}" for j in range(n_in)]
                inputs = [f"in{k}_{j}" for j in range(n_in)]
            if mode == "single" and with_effort and k > 0:  # the layer's inputs, for the sums after the loop
                lines += [f"effort[{input_row[k] + j}, c] = {inputs[j]}" for j in range(n_in)]
            for i in range(n_out):
                # z = (b + w_0 x_0) + w_1 x_1 + ...: the generic field's order
                lines.append(f"z{k}_{i} = " + affine(param(b0 + i), [param(w0 + i * n_in + j) for j in range(n_in)],
                                                    inputs))
            lines += activations(k, codes[k], n_out)
            for i in range(n_out):
                if with_emission:
                    lines.append(f"emit_f[emit_slot, emit_kind, {node + i}, c] = value{k}_{i}")
                lines.append(f"delta{k}_{i} = slope{k}_{i} * {arrival('arrive_b', node + i)}")
                if with_effort and mode == "single":  # per lane; summed over the samples after the loop
                    lines.append(f"effort[{node + i}, c] = delta{k}_{i}")
                elif with_effort:  # the terms of the effort beta e = mean_n(delta a_prev); 1/beta applied per instance
                    lines.append(effort_term(b0 + i, f"delta{k}_{i}"))
                    lines += [effort_term(w0 + i * n_in + j, f"delta{k}_{i}", inputs[j]) for j in range(n_in)]
            if k > 0 and with_emission:
                for j in range(n_in):
                    lines.append(f"emit_b[emit_slot, emit_kind, {before + j}, c] = "
                                 + affine("", [param(w0 + i * n_in + j) for i in range(n_out)],
                                          [f"delta{k}_{i}" for i in range(n_out)]))
        if not with_emission:
            return lines
        n_last, last = table[-1][1], table[-1][3]
        if loss_code == junctions.LOSS_CODES["mse"]:
            lines += [f"emit_b[emit_slot, emit_kind, {last + i}, c] = "
                      f"beta[c] * ({arrival('arrive_f', last + i)} - target[{i}, c])" for i in range(n_last)]
        else:  # softmax of the arriving outputs, as the generic field: shift by the lane's maximum
            lines += [f"out_{i} = {arrival('arrive_f', last + i)}" for i in range(n_last)]
            lines.append("top = out_0")
            lines += [f"top = max(top, out_{i})" for i in range(1, n_last)]
            lines.append("total = 0.0")
            lines += [f"total += np.exp(out_{i} - top)" for i in range(n_last)]
            lines += [f"emit_b[emit_slot, emit_kind, {last + i}, c] = "
                      f"beta[c] * (np.exp(out_{i} - top) / total - target[{i}, c])" for i in range(n_last)]
        return lines

    def lanes(with_effort: bool, with_emission: bool, mode: str) -> list[str]:
        pad = " " * 8
        # the port effort is the mean over the samples over beta: each instance's terms summed in sample order
        # from zero, then multiplied by 1/(beta B), the same arithmetic on every path (results do not depend on the
        # path or on how instances are blocked). One instance: the lanes are its samples, the terms go to
        # per-lane rows (the loop vectorises over the samples) summed after it. Many instances, the batch
        # written out: per instance (vectorised over the instances) the parameters loaded once, the samples'
        # independent chains side by side, the terms summed in registers. Many instances, other batches:
        # the terms summed in place per instance (no per-lane rows to write and re-read)
        if mode == "single":
            # per lane the deltas (rows node + i) and the inputs of layers k > 0 (rows input_row[k] + j); each
            # effort summed over the samples in order, as the instance loops do (fma for a weight's terms)
            mean = [f"{pad}scale = 1.0 / (beta[0] * batch)"]
            for k, (n_in, n_out, w0, node) in enumerate(table):
                b0 = w0 + n_out * n_in
                for i in range(n_out):
                    sums = [(b0 + i, f"total + effort[{node + i}, c]")]
                    sums += [(w0 + i * n_in + j, f"fma(effort[{node + i}, c], "
                              + (f"x[{j}, c]" if k == 0 else f"effort[{input_row[k] + j}, c]") + ", total)")
                             for j in range(n_in)]
                    for q, term in sums:
                        mean += [f"{pad}total = 0.0", f"{pad}for c in range(batch):", f"{pad}    total = {term}",
                                 f"{pad}port_effort[{q}, 0] = total * scale"]
            return [*(f"{pad}s{q} = state[{q}, 0]" for q in range(P)), f"{pad}for c in range(batch):",
                    *(pad + "    " + line for line in body(with_effort, with_emission, mode)),
                    *(mean if with_effort else [])]
        if mode == "unrolled":
            inner = pad + "    "
            lines = [f"{pad}for p in range(instances):", *(f"{inner}s{q} = state[{q}, p]" for q in range(P))]
            lines += [f"{inner}e{q} = 0.0" for q in range(P)] if with_effort else []
            for n in range(unrolled):
                lines += [f"{inner}c = {n} * instances + p",
                          *(inner + line for line in body(with_effort, with_emission, mode))]
            if with_effort:
                lines.append(f"{inner}scale = 1.0 / (beta[p] * batch)")
                lines += [f"{inner}port_effort[{q}, p] = e{q} * scale" for q in range(P)]
            return lines
        start = [f"{pad}for q in range({P}):", f"{pad}    for p in range(instances):",
                 f"{pad}        port_effort[q, p] = 0.0"]
        mean = [f"{pad}for q in range({P}):", f"{pad}    for p in range(instances):",
                f"{pad}        port_effort[q, p] = port_effort[q, p] * (1.0 / (beta[p] * batch))"]
        return [*(start if with_effort else []), f"{pad}for n in range(batch):", f"{pad}    for p in range(instances):",
                *(pad + " " * 8 + line for line in body(with_effort, with_emission, mode)),
                *(mean if with_effort else [])]

    source = [
        # no contraction left to the compiler: the multiply-adds are written as fma, one rounding on every path
        # (vector loops, their remainders, the one-instance loop), so results do not depend on the blocking
        '@noalias_njit(cache=True, error_model="numpy")',
        "def port_field(table, activations, loss_code, beta, state, x, target, arrive_f, arrive_b, slot, kind,",
        "               emit_f, emit_b, emit_slot, emit_kind, port_effort, with_effort, with_emission, theta, effort,",
        "               scratch):",
        f'    """The port field of the {"-".join(map(str, layout.sizes))} network ({", ".join(layout.names)}; loss '
        f'code {loss_code}), one lane at a time."""',
        "    instances = state.shape[1]",
        "    batch = x.shape[1] // instances",
    ]
    branch = "if"
    for mode in ("single", "unrolled" if unrolled else "loop"):
        for with_effort, with_emission in ((True, True), (True, False), (False, True)):
            condition = " and ".join(["instances == 1"] * (mode == "single") + ["with_effort"] * with_effort
                                     + ["with_emission"] * (with_effort and with_emission)
                                     + ["not with_effort"] * (not with_effort))
            if mode == "unrolled" and with_effort and with_emission:
                # the efforts written out, the emissions by the loop over samples: written out, the emission loop
                # is not vectorised (LLVM reports an instruction it cannot vectorise) and was slower
                body_lines = [*lanes(True, False, mode), *lanes(False, True, "loop")]
            else:
                body_lines = lanes(with_effort, with_emission,
                                   "loop" if mode == "unrolled" and not with_effort else mode)
            if mode == "unrolled" and with_effort:  # written out for this batch size (the loops take any)
                body_lines = [f"        if batch != {unrolled}:",
                              f'            raise ValueError("this field was generated for {unrolled} samples")',
                              *body_lines]
            source += [f"    {branch} {condition}:", *body_lines]
            branch = "elif"
    return "\n".join(source) + "\n"


class _NoAliasOptions(cpu.CPUTargetOptions):
    """CPU options that mark every array argument ``noalias`` (the arguments never share memory)."""

    def finalize(self, flags, options):
        super().finalize(flags, options)
        flags.noalias = True
        flags.nrt = False  # allocates nothing: no reference counting of the arguments on every call


class _NoAliasTarget(registry.CPUTarget):
    """The CPU target (its typing and target contexts) with :class:`_NoAliasOptions`."""

    options = _NoAliasOptions

    @property
    def target_context(self):
        return registry.cpu_target.target_context

    @property
    def typing_context(self):
        return registry.cpu_target.typing_context


class _NoAliasDispatcher(registry.CPUDispatcher):
    targetdescr = _NoAliasTarget("cpu")


def noalias_njit(cache: bool = False, **options):
    """``numba.njit`` for a function whose array arguments never overlap, so the compiler may say so.

    Without it, a loop that reads and writes many arrays is not vectorised: LLVM would need a runtime
    overlap check per pair of rows (hundreds for the fused field), above its limit. The caller must pass
    distinct arrays (the kernels here allocate each one).
    """
    def wrap(function):
        dispatcher = _NoAliasDispatcher(py_func=function, locals={}, targetoptions=dict(nopython=True, **options))
        if cache:
            dispatcher.enable_caching()
        return dispatcher
    return wrap


def specialised(kernel, layout, loss_code: int, batch: int | None = None):
    """``kernel`` (a numba dispatcher calling ``port_field``) compiled against the field specialised to ``layout``.

    Parameters
    ----------
    kernel : numba dispatcher
        A kernel whose module-level name ``port_field`` refers to :func:`circuits.junctions.port_field`.
    layout : Layout
        The architecture; at most :data:`SPECIALISE_LIMIT` scalar parameters.
    loss_code : int
        :data:`circuits.junctions.LOSS_CODES` value of the loss port.
    batch : int, optional
        Samples per instance the kernel will be called with: up to :data:`UNROLL_LIMIT` they are written out
        (one kernel per batch size; called with another, it raises). None: any batch.

    Returns
    -------
    numba dispatcher
        Same signature and results as ``kernel``.
    """
    if layout.n_params > SPECIALISE_LIMIT:
        raise ConfigurationError(f"the network has {layout.n_params} parameters; architectures up to "
                                 f"SPECIALISE_LIMIT = {SPECIALISE_LIMIT} are specialised")
    if loss_code not in junctions.LOSS_CODES.values():
        raise ConfigurationError(f"loss_code = {loss_code!r}; valid: {sorted(junctions.LOSS_CODES.values())}")
    unrolled = batch if batch is not None and 1 <= batch <= UNROLL_LIMIT else None
    key = (kernel.py_func.__module__, kernel.py_func.__name__, tuple(map(tuple, layout.table.tolist())),
           tuple(layout.activations.tolist()), loss_code, unrolled)
    compiled = _MODULES.get(key)
    if compiled is None:
        compiled = _MODULES[key] = _load(kernel, layout, loss_code, unrolled)
    return compiled


def _load(kernel, layout, loss_code: int, batch: int | None):
    """Generate, write (atomically) and import the module holding the specialised ``kernel``."""
    function = kernel.py_func
    home = sys.modules[function.__module__]
    names = sorted(name for name in function.__code__.co_names
                   if name in vars(home) and name not in ("port_field", "np", "njit"))
    header = ["from __future__ import annotations", "import numpy as np", "from numba import njit",
              "from circuits.junctions import activation, fma, squash, tanh_fraction", "from circuits.specialise import noalias_njit",
              f"from {function.__module__} import {', '.join(names)}" if names else ""]
    text = "\n".join(header) + "\n\n\n" + field_source(layout, loss_code, batch) + "\n\n" + inspect.getsource(function)
    # the name hashes the text and every source compiled into it (inlined helpers are not in numba's cache check)
    digest = hashlib.sha256(text.encode())
    for module in (home, junctions):
        with open(module.__file__, "rb") as handle:
            digest.update(handle.read())
    digest.update(numba.__version__.encode())
    name = f"{function.__name__}_{digest.hexdigest()[:20]}"
    directory = kernel_directory()
    path = os.path.join(directory, name + ".py")
    if not os.path.exists(path):
        handle, partial = tempfile.mkstemp(dir=directory, suffix=".partial")
        with os.fdopen(handle, "w") as out:
            out.write(text)
        os.replace(partial, path)
    spec = importlib.util.spec_from_file_location(f"_substrate_kernel_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # numba's disk cache re-imports a kernel's module by name when it loads
    spec.loader.exec_module(module)
    return getattr(module, function.__name__)
