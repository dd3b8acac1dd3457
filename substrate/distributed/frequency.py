"""The exact frequency-domain solution of RLGC lines and line networks.

A uniform line of length ``l`` with ``Z' = R' + s L'`` and ``Y' = G' + s C'`` (``s`` the Laplace
variable in rad/s) has the transmission (ABCD) matrix

.. math::

    \\begin{pmatrix} A & B \\\\ C & A \\end{pmatrix}
    = \\begin{pmatrix} \\cosh\\theta & Z' l\\, \\frac{\\sinh\\theta}{\\theta} \\\\
                       Y' l\\, \\frac{\\sinh\\theta}{\\theta} & \\cosh\\theta \\end{pmatrix},
    \\qquad \\theta = l \\sqrt{Z' Y'},

(even in ``theta``, so the branch of the root does not matter) and the nodal admittance stamp
``Y11 = Y22 = coth(theta)/Zc``, ``Y12 = Y21 = -csch(theta)/Zc`` with ``1/Zc = Y' l/theta``. A
:class:`LineNetwork` is the sum of its lines' stamps on its nodes (Kirchhoff's current law at every
node); its terminations are either the ports (:func:`scattering`) or lumped loads and sources
(:func:`transient`). This is the package's one exact RLGC solution: :func:`scattering` returns its
S-parameters, and :func:`transient` inverts it numerically to time (the exact reference the
time-domain engines are scored against).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import ConfigurationError, check_positive
from .lines import PWL, Capacitor, Line, LineNetwork, Open, Pulse, Resistor, Short, Step, Thevenin

__all__ = ["line_abcd", "line_admittance", "nodal_admittance", "scattering", "laplace_transform", "transient"]


def _laplace_variable(s) -> np.ndarray:
    s = np.atleast_1d(np.asarray(s, dtype=complex))
    if s.ndim != 1 or not np.all(np.isfinite(s)) or np.any(s == 0):
        raise ConfigurationError("the Laplace variable s (rad/s) must be a 1-d array of finite nonzero values")
    return s


def _per_unit_length(line: Line, s: np.ndarray):
    return line.resistance + s * line.inductance, line.conductance + s * line.capacitance


def line_abcd(line: Line, s) -> np.ndarray:
    """ABCD matrices of ``line`` at Laplace variables ``s`` (rad/s; ``s = 2 pi j f``), shape ``(F, 2, 2)``.

    Port 1 is s = 0, port 2 is s = length; ``(V1, I1) = ABCD (V2, I2)`` with ``I1`` into port 1 and
    ``I2`` out of port 2 (V in V, I in A; B in ohm, C in S).
    """
    s = _laplace_variable(s)
    z, y = _per_unit_length(line, s)
    theta = line.length * np.sqrt(z * y)
    small = np.abs(theta) < 1e-4
    shc = np.where(small, 1 + theta**2 / 6 + theta**4 / 120, np.sinh(theta) / np.where(small, 1.0, theta))
    a = np.cosh(theta)
    return np.stack([np.stack([a, z * line.length * shc], -1), np.stack([y * line.length * shc, a], -1)], -2)


def line_admittance(line: Line, s) -> tuple[np.ndarray, np.ndarray]:
    """Nodal admittance stamp of ``line``: ``(Y11 = Y22, Y12 = Y21)`` in S at Laplace variables ``s`` (rad/s).

    Computed with ``exp(-2 theta)`` (``Re theta >= 0``), so long lossy lines do not overflow.
    """
    s = _laplace_variable(s)
    z, y = _per_unit_length(line, s)
    theta = line.length * np.sqrt(z * y)  # principal root: Re(theta) >= 0
    inverse_zc = y * line.length / theta
    decay = np.exp(-theta)
    denominator = -np.expm1(-2 * theta)
    return inverse_zc * (1 + decay**2) / denominator, -inverse_zc * 2 * decay / denominator


def _line_index(target) -> tuple[LineNetwork | None, list, list]:
    """``(network, lines as (Line, i, j), node names)`` for a Line (nodes "1", "2") or a LineNetwork."""
    if isinstance(target, Line):
        return None, [(target, 0, 1)], ["1", "2"]
    if isinstance(target, LineNetwork):
        index = {node: k for k, node in enumerate(target.nodes)}
        return target, [(line, index[a], index[b]) for line, a, b in target.lines.values()], list(target.nodes)
    raise ConfigurationError(f"expected a Line or a LineNetwork, got {type(target).__name__}")


def nodal_admittance(target, s) -> np.ndarray:
    """Nodal admittance matrices (S) of the lines alone, shape ``(F, n_nodes, n_nodes)``.

    Nodes are ``target.nodes`` for a :class:`LineNetwork`, ``("1", "2")`` (s = 0, s = length) for
    a :class:`Line`; terminations are not included.
    """
    s = _laplace_variable(s)
    _, lines, nodes = _line_index(target)
    n = len(nodes)
    stamps = [line_admittance(line, s) for line, _, _ in lines]
    i = np.array([a for _, a, _ in lines])
    j = np.array([b for _, _, b in lines])
    self_y = np.stack([st[0] for st in stamps], 1)
    mutual = np.stack([st[1] for st in stamps], 1)
    entries = np.concatenate([i * n + i, j * n + j, i * n + j, j * n + i])  # flat (row, column) of each stamp
    scatter = sp.csr_matrix((np.ones(len(entries)), (entries, np.arange(len(entries)))), shape=(n * n, len(entries)))
    values = np.concatenate([self_y, self_y, mutual, mutual], 1)
    return (scatter @ values.T).T.reshape(len(s), n, n)


def _frequency(frequency) -> np.ndarray:
    f = np.atleast_1d(np.asarray(frequency, dtype=float))
    if f.ndim != 1 or len(f) == 0 or not np.all(np.isfinite(f)) or np.any(f <= 0):
        raise ConfigurationError(f"frequency must be a non-empty 1-d array of finite values > 0 Hz, got {frequency!r}")
    if np.any(np.diff(f) <= 0):
        k = int(np.argmax(np.diff(f) <= 0))
        raise ConfigurationError(f"frequency must increase strictly (a Touchstone frequency axis): "
                                 f"frequency[{k + 1}] = {float(f[k + 1])!r} Hz follows {float(f[k])!r} Hz")
    return f


def scattering(target, frequency, z0: float = 50.0):
    """S-parameters of a line or a line network from the exact RLGC solution, as a scikit-rf ``Network``.

    Parameters
    ----------
    target : Line or LineNetwork
        A :class:`Line` is a two-port (port 1 at s = 0, port 2 at s = length). A
        :class:`LineNetwork` has one port per terminated node, in ``network.ports`` order; the
        terminations only mark the ports (they are replaced by the reference impedance), and the
        other nodes are internal junctions.
    frequency : array_like
        Frequencies in Hz (> 0).
    z0 : float
        Real reference impedance of every port in ohm (> 0).

    Returns
    -------
    skrf.Network
        ``s`` of shape ``(F, P, P)``, ``port_names`` the port nodes.

    Notes
    -----
    With the lines' nodal admittance ``Y`` reduced to the ports (Schur complement of the internal
    nodes), ``S = (1 + z0 Y)^{-1} (1 - z0 Y)``.
    """
    import skrf

    f = _frequency(frequency)
    z0 = check_positive("z0 (ohm)", z0)
    network, _, nodes = _line_index(target)
    ports = [0, 1] if network is None else [nodes.index(p) for p in network.ports]
    if not ports:
        raise ConfigurationError("the LineNetwork has no terminations, so no ports to scatter from")
    Y = nodal_admittance(target, 2j * np.pi * f)
    inner = [k for k in range(len(nodes)) if k not in ports]
    Ypp = Y[:, ports][:, :, ports]
    if inner:
        Yii = Y[:, inner][:, :, inner]
        Ypp = Ypp - Y[:, ports][:, :, inner] @ np.linalg.solve(Yii, Y[:, inner][:, :, ports])
    unit = np.eye(len(ports))
    S = np.linalg.solve(unit + z0 * Ypp, unit - z0 * Ypp)
    result = skrf.Network(frequency=skrf.Frequency.from_f(f, unit="hz"), s=S, z0=z0,
                          name="line" if network is None else "line network")
    result.port_names = ["1", "2"] if network is None else list(network.ports)
    return result


# --------------------------------------------------------------------------------------------
# transient response by numerical inverse Laplace transform
# --------------------------------------------------------------------------------------------
def _ramps(waveform) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``v(t >= 0) = sum jumps_k H(t - tj_k) + sum kinks_k (t - tk_k)_+``: ``(tj, jumps, tk, kinks)``."""
    if isinstance(waveform, Step):
        if waveform.rise == 0:
            return np.array([waveform.delay]), np.array([waveform.amplitude]), np.zeros(0), np.zeros(0)
        m = waveform.amplitude / waveform.rise
        return np.zeros(0), np.zeros(0), np.array([waveform.delay, waveform.delay + waveform.rise]), np.array([m, -m])
    if isinstance(waveform, Pulse):
        up = _ramps(Step(waveform.amplitude, waveform.delay, waveform.rise))
        down = _ramps(Step(-waveform.amplitude, waveform.delay + waveform.rise + waveform.width, waveform.fall))
        return tuple(np.concatenate([u, d]) for u, d in zip(up, down))
    if isinstance(waveform, PWL):
        times, values = np.array(waveform.times), np.array(waveform.values)
        slopes = np.concatenate([[0.0], np.diff(values) / np.diff(times), [0.0]])  # before, inside, after
        later = times > 0
        segment = np.searchsorted(times, 0.0, side="right")  # the segment t = 0 lies in
        v0 = float(np.interp(0.0, times, values))
        tk = np.concatenate([[0.0], times[later]])
        kinks = np.concatenate([[slopes[segment]], np.diff(slopes)[later]])
        return np.array([0.0]), np.array([v0]), tk, kinks
    raise ConfigurationError(
        f"the exact transient needs sources with a closed-form Laplace transform (Step, Pulse, PWL, or an object "
        f"with a laplace(s) method), got {waveform!r}"
    )


def laplace_transform(waveform, s) -> np.ndarray:
    """Laplace transform (V s) of a waveform at ``s`` (rad/s), ``v`` taken from t = 0.

    Step, Pulse and PWL are transformed exactly (as sums of delayed steps and ramps); any other
    waveform object that has a method ``laplace(s)`` supplies its own transform.
    """
    s = _laplace_variable(s)
    if not isinstance(waveform, (Step, Pulse, PWL)) and callable(getattr(waveform, "laplace", None)):
        return np.asarray(waveform.laplace(s), dtype=complex)
    tj, jumps, tk, kinks = _ramps(waveform)
    return (np.exp(-np.outer(s, tj)) @ jumps) / s + (np.exp(-np.outer(s, tk)) @ kinks) / s**2


def _node_voltages(network: LineNetwork, s: np.ndarray) -> np.ndarray:
    """Laplace-domain node voltages (V s), shape ``(F, n_nodes)``, of the network with its terminations."""
    Y = nodal_admittance(network, s)
    J = np.zeros((len(s), len(network.nodes)), dtype=complex)
    index = {node: k for k, node in enumerate(network.nodes)}
    shorted = []
    for node, term in network.terminations.items():
        k = index[node]
        if isinstance(term, Thevenin):
            Y[:, k, k] += 1.0 / term.resistance
            J[:, k] += laplace_transform(term.waveform, s) / term.resistance
        elif isinstance(term, Resistor):
            Y[:, k, k] += 1.0 / term.ohms
        elif isinstance(term, Capacitor):
            Y[:, k, k] += s * term.farads
        elif isinstance(term, Short):
            shorted.append(k)
        elif not isinstance(term, Open):
            raise ConfigurationError(f"the exact transient handles linear terminations only; node {node!r} has {term!r}")
    if shorted:
        Y[:, shorted, :] = 0.0
        Y[:, :, shorted] = 0.0
        Y[:, shorted, shorted] = 1.0
        J[:, shorted] = 0.0
    return np.linalg.solve(Y, J[..., None])[..., 0]


def transient(network: LineNetwork, t, max_frequency: float, period: float | None = None,
              damping: float = 1e-10, chunk: int = 512) -> dict:
    """Node voltages of ``network`` from rest at times ``t`` (s) by a numerical inverse Laplace transform.

    The Fourier-series method (Dubner and Abate; Crump): with ``g(t) = x(t) exp(-sigma t)`` periodised
    over ``period`` P,

    .. math::

        x(t) \\approx \\frac{e^{\\sigma t}}{P}\\Big[X(\\sigma) + 2\\,\\mathrm{Re}\\sum_{k=1}^{K}
        X(\\sigma + j\\omega_k)\\, e^{j\\omega_k t}\\Big], \\qquad \\omega_k = 2\\pi k/P,

    with ``X`` the exact Laplace-domain solution and ``sigma = -ln(damping)/P``, so the periodic
    images are damped by ``damping``. Evaluated by direct summation at each requested time (no
    interpolation). Its error is the truncation of the sum at ``max_frequency`` (a PWL source's
    kinks make the spectrum decay as 1/f^2, so the error falls as 1/max_frequency) plus the
    images (``damping`` times the response) plus rounding amplified by ``exp(sigma t)``.

    Parameters
    ----------
    network : LineNetwork
        Lines with Thevenin (Step, Pulse or PWL), Resistor, Capacitor, Open and Short terminations.
    t : array_like
        Times in s, in ``[0, period/2]``.
    max_frequency : float
        Highest frequency of the sum in Hz.
    period : float, optional
        P in s; default twice the latest time.
    damping : float
        Damping of the periodic images (0 < damping < 1).
    chunk : int
        Frequencies per batched solve (memory).

    Returns
    -------
    dict node -> ndarray
        Voltage in V of every network node at ``t``.
    """
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or len(t) == 0 or not np.all(np.isfinite(t)) or t.min() < 0:
        raise ConfigurationError("t must be a non-empty 1-d array of finite times >= 0 s")
    period = 2 * max(t.max(), 1e-300) if period is None else check_positive("period (s)", period)
    if t.max() > 0.5 * period * (1 + 1e-12):
        raise ConfigurationError(f"times up to {t.max():g} s need period >= {2 * t.max():g} s, got {period:g} s")
    max_frequency = check_positive("max_frequency (Hz)", max_frequency)
    if not 0 < damping < 1:
        raise ConfigurationError(f"damping = {damping!r} must lie in (0, 1)")
    sigma = -np.log(damping) / period
    K = int(np.ceil(max_frequency * period))
    omega = 2 * np.pi * np.arange(K + 1) / period
    total = np.zeros((len(t), len(network.nodes)))
    for first in range(0, K + 1, chunk):
        w = omega[first:first + chunk]
        X = _node_voltages(network, sigma + 1j * w)
        weight = np.where(w == 0, 1.0, 2.0)[:, None]
        total += (np.exp(1j * np.outer(t, w)) @ (weight * X)).real
    x = total * (np.exp(sigma * t) / period)[:, None]
    return {node: x[:, k] for k, node in enumerate(network.nodes)}
