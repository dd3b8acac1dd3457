"""Parameter ports: optimizers as terminations of the substrate (physics.md, section 5).

Every parameter array ``theta`` (``W_k`` or ``b_k``) sits behind a port. The substrate drives the port
with the **effort** ``e`` (the gradient ``dC/dtheta``, dimensionless per unit parameter); the port
answers with a **flow** ``v = -dtheta/dtau`` (parameter units per unit optimization time). With port
impedance ``R`` the port waves are::

    incident  a = (e + R v) / (2 sqrt R)
    reflected b = (e - R v) / (2 sqrt R)          absorbed power  a.a - b.b = e.v

Optimization time ``tau`` is counted in **port clock periods**: one port update integrates the port
law over ``dtau`` (a port attribute, default 1, dimensionless). So a resistive port with resistance
``R`` is gradient descent with learning rate ``lr = dtau / R``.

Port kinds:

- :class:`Resistive`: a matched load, ``dtheta/dtau = -e/R``. Reflected wave exactly zero.
- :class:`Inertial`: a mass ``M`` in series with ``R``. With velocity ``u = dtheta/dtau = -v``,
  ``M du/dtau = -e - R u``; semi-implicit Euler (velocity first, then position) is heavy-ball
  momentum with ``mu = 1 - dtau R/M`` and ``lr = dtau^2/M``. It reflects the inertial force.
- :class:`GaussNewton`: a Hessian-matched port, ``R = G + damping I`` with ``G`` the Gauss-Newton
  matrix of the batch (small networks: ``G`` is ``P x P``). Damped Newton steps; matched, so no
  reflection when unconstrained.
- :class:`Frozen`: an open port (no flow): parameters held, for reading efforts.
- :class:`Leak`: a conductance ``G_leak`` to ground, combinable with any port (``Resistive(10) +
  Leak(1e-3)``): it adds ``G_leak theta`` to the effort the port dissipates (weight decay). Since the
  network effort no longer equals ``R v``, a leaky port reflects.

Device limits (any port): ``bounds=(low, high)`` clips the parameter; ``levels=n`` (needs bounds)
makes the parameter one of ``n`` equally spaced values in ``[low, high]``. A quantised port integrates
its flow on an analog control variable (state ``"latent"``); the device value the network sees is the
nearest level. The flow used for the port powers is the *actual* device change, so limits show up as
reflected power.

Component tolerance (:class:`Resistive`, :class:`Inertial`): ``resistance_tolerance=t`` gives every
parameter its own resistor ``R_i = R (1 + t u_i)``, ``u_i`` uniform in ``[-1, 1]``, independent, drawn
from ``numpy.random.default_rng(seed)`` when the port state is created (``0 <= t < 1`` keeps every
``R_i > 0``). A resistive port then runs gradient descent with per-parameter rates ``dtau / R_i``.
The drawn resistors are part of the port state (state ``"resistance"``, checkpointed). The port
waves keep the nominal ``R`` as reference impedance, so a resistor off its nominal value reflects,
as a line terminated by a mismatched load does.

Two forms of one update: :meth:`Port.update` works in place (the trainer's form: state and device
values overwritten in blocks of :data:`BLOCK` elements, powers only when asked for), and
:meth:`Port.step` is its pure form (a copy of the state, updated, with the powers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy.linalg import cho_factor, cho_solve

from .errors import ConfigurationError, check_positive, check_range

__all__ = [
    "Port", "Resistive", "Inertial", "GaussNewton", "Frozen", "Leak", "PortPower", "from_config",
    "gauss_newton_matrix", "PORT_KINDS", "BLOCK",
]

#: elements per block of an in-place port update: bounds the scratch memory of :meth:`Port.update`
#: (256 kB of float64) whatever the parameter count
BLOCK = 1 << 15


@dataclass
class PortPower:
    """Power bookkeeping of one port update, one entry per parameter array (port).

    Attributes
    ----------
    absorbed : ndarray, shape (n_ports,)
        ``sum e.v`` per port (effort times flow; dimensionless power per unit optimization time).
    reflected : ndarray, shape (n_ports,)
        ``sum b.b`` per port, the power of the reflected port wave.
    incident : ndarray, shape (n_ports,)
        ``sum a.a`` per port (``incident - reflected = absorbed``).
    """

    absorbed: np.ndarray
    reflected: np.ndarray
    incident: np.ndarray


class Port:
    """Base class: device limits, leak and the power bookkeeping shared by every port kind.

    Parameters
    ----------
    dtau : float
        Optimization time advanced by one port update (> 0, in port clock periods).
    bounds : (float, float), optional
        Device range ``[low, high]`` of every parameter behind the port.
    levels : int, optional
        Number of device values (>= 2, needs ``bounds``): quantised parameters.
    leak : float
        Leak conductance ``G_leak >= 0`` (weight decay: adds ``G_leak theta`` to the effort).
    """

    kind = "port"
    #: names of per-parameter state arrays the port keeps (besides the device values)
    state_names: tuple[str, ...] = ()
    #: relative resistor tolerance and the seed of its draws (set by the kinds that have resistors)
    resistance_tolerance = 0.0
    seed = 0

    def __init__(self, *, dtau: float = 1.0, bounds: Sequence[float] | None = None, levels: int | None = None,
                 leak: float = 0.0):
        self.dtau = check_positive("dtau", dtau)
        self.leak = check_range("leak", leak, 0.0, None)
        if bounds is not None:
            try:
                low, high = (float(b) for b in bounds)
            except (TypeError, ValueError):
                raise ConfigurationError(f"bounds = {bounds!r} must be two numbers (low, high)") from None
            if not (math.isfinite(low) and math.isfinite(high) and low < high):
                raise ConfigurationError(f"bounds = {bounds!r} must be finite with low < high")
            bounds = (low, high)
        self.bounds = bounds
        if levels is not None:
            if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
                raise ConfigurationError(f"levels = {levels!r} must be an integer >= 2")
            if bounds is None:
                raise ConfigurationError(f"levels = {levels} needs bounds=(low, high) to place the levels in")
            levels = int(levels)
        self.levels = levels

    # --- composition ---------------------------------------------------------------------------
    def __add__(self, other):
        if isinstance(other, Leak):
            twin = self._copy()
            twin.leak = self.leak + other.conductance
            return twin
        return NotImplemented

    __radd__ = __add__

    def _copy(self):
        twin = type(self).__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin

    # --- device limits -------------------------------------------------------------------------
    def device(self, latent: np.ndarray) -> np.ndarray:
        """The device value of an analog control value: clipped to ``bounds``, rounded to ``levels``."""
        if self.bounds is None:
            return latent
        low, high = self.bounds
        value = np.clip(latent, low, high)
        if self.levels is not None:
            spacing = (high - low) / (self.levels - 1)
            value = low + np.round((value - low) / spacing) * spacing
        return value

    def _limit(self, latent: np.ndarray) -> np.ndarray:
        return latent if self.bounds is None else np.clip(latent, *self.bounds)

    # --- state -----------------------------------------------------------------------------------
    def initial_state(self, params: Sequence[np.ndarray]) -> dict[str, list[np.ndarray]]:
        """Port state for initial parameters: the analog control values and any internal state."""
        state = {"latent": [self._limit(np.array(p, dtype=float)) for p in params]}
        for name in self.state_names:
            state[name] = [np.zeros_like(p, dtype=float) for p in params]
        if self.resistance_tolerance:
            state["resistance"] = self.draw_resistances(params)
        return state

    def draw_resistances(self, params: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Each parameter's own resistor (ohm-like, effort per unit flow), shaped like ``params``.

        ``R_i = R (1 + t u_i)`` with ``u_i`` independent and uniform in ``[-1, 1]``, drawn in parameter
        order from ``numpy.random.default_rng(seed)``: the same seed gives the same resistors.
        """
        rng = np.random.default_rng(self.seed)
        tolerance = self.resistance_tolerance
        return [self.resistance * (1.0 + tolerance * rng.uniform(-1.0, 1.0, np.shape(p))) for p in params]

    def _resistances(self, state) -> list:
        """Per-parameter resistances of a state (the nominal scalar when there is no tolerance)."""
        return state.get("resistance") or [self.resistance] * len(state["latent"])

    def _set_tolerance(self, resistance_tolerance, seed) -> None:
        self.resistance_tolerance = check_range("resistance_tolerance", resistance_tolerance, 0.0, 1.0,
                                                high_inclusive=False)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigurationError(f"seed = {seed!r} must be an integer >= 0")
        self.seed = int(seed)

    def parameters(self, state) -> list[np.ndarray]:
        """Device values (what the network uses) of a port state."""
        return [self.device(latent) for latent in state["latent"]]

    # --- one update ------------------------------------------------------------------------------
    def step(self, state, efforts: Sequence[np.ndarray], curvature: Callable[[], np.ndarray] | None = None):
        """Advance every port by ``dtau`` under the network efforts, leaving ``state`` untouched.

        The pure form of :meth:`update` (which it runs on a copy of ``state``).

        Parameters
        ----------
        state : dict
            Port state (from :meth:`initial_state` or a previous step); not modified.
        efforts : list of ndarray
            Efforts ``e = dC/dtheta`` aligned with the parameter arrays.
        curvature : callable, optional
            Returns the Gauss-Newton matrix of the batch the efforts belong to (only
            :class:`GaussNewton` calls it).

        Returns
        -------
        new_state : dict
        power : PortPower
        """
        new_state = {name: [np.array(a, dtype=float) for a in arrays] for name, arrays in state.items()}
        return new_state, self.update(new_state, efforts, curvature, power=True)

    def update(self, state, efforts: Sequence[np.ndarray], curvature: Callable[[], np.ndarray] | None = None,
               params: Sequence[np.ndarray] | None = None, power: bool = False) -> PortPower | None:
        """Advance every port by ``dtau`` in place: ``state`` and ``params`` are overwritten.

        The training loop's form of :meth:`step`: no array of the parameters' size is allocated (the
        arithmetic runs in blocks of :data:`BLOCK` elements), and the port powers are computed only
        when asked for.

        Parameters
        ----------
        state : dict
            Port state, updated in place.
        efforts : list of ndarray
            Efforts ``e = dC/dtheta`` aligned with the parameter arrays (read only).
        curvature : callable, optional
            See :meth:`step`.
        params : list of ndarray, optional
            The device values in use (``parameters(state)`` before the update; for a port without
            device limits these are the ``latent`` arrays themselves); overwritten with the new
            device values. Default: ``parameters(state)``.
        power : bool
            Return the :class:`PortPower` of this update (else ``None``).
        """
        params = self.parameters(state) if params is None else params
        totals = np.zeros((3, len(efforts))) if power else None
        names = ("latent",) + self.state_names
        resistances = self._resistances(state)
        for i, effort in enumerate(efforts):
            arrays = [state[name][i] for name in names]
            device, resistance = params[i], resistances[i]
            if effort.size <= BLOCK:
                self._update_block(arrays, effort, device, resistance, totals, i)
                continue
            flat = [a.reshape(-1) for a in arrays]
            effort, device = effort.reshape(-1), device.reshape(-1)
            resistance = np.reshape(resistance, -1) if np.ndim(resistance) else resistance
            for start in range(0, effort.size, BLOCK):
                block = slice(start, start + BLOCK)
                self._update_block([a[block] for a in flat], effort[block], device[block],
                                   resistance[block] if np.ndim(resistance) else resistance, totals, i)
        return None if totals is None else PortPower(totals[0], totals[1], totals[2])

    def _update_block(self, arrays, effort, device, resistance, totals, i) -> None:
        # one block of one parameter array: integrate the port law in place on the analog state,
        # limit it, write the device values, and add the block's powers when asked
        old = device.copy() if totals is not None else None
        drive = effort + self.leak * device if self.leak else effort
        self._advance(arrays, drive, resistance)
        self._settle(arrays[0], device)
        if totals is not None:
            np.subtract(old, device, out=old)  # o - n is -(n - o) exactly: the flow times dtau
            old /= self.dtau
            totals[:, i] += self._block_power(effort, old)

    def _settle(self, latent, device) -> None:
        # limit the analog value to the device range (in place) and write the device value
        if self.bounds is not None:
            np.clip(latent, *self.bounds, out=latent)
            device[...] = self.device(latent)
        elif device is not latent and not np.may_share_memory(device, latent):
            device[...] = latent

    def _advance(self, arrays, drive, resistance):  # pragma: no cover - abstract
        """Integrate the port law over ``dtau`` in place: ``arrays`` = latent, then ``state_names``;
        ``resistance`` is the nominal scalar or this block's drawn resistors."""
        raise NotImplementedError

    def _block_power(self, effort, flow):
        r = self.resistance
        return (float(np.sum(effort * flow)), float(np.sum((effort - r * flow) ** 2)) / (4 * r),
                float(np.sum((effort + r * flow) ** 2)) / (4 * r))

    # --- description -------------------------------------------------------------------------------
    def to_config(self) -> dict:
        """The port as a config table (see :func:`from_config`)."""
        config = {"kind": self.kind, "dtau": self.dtau, "leak": self.leak}
        config.update(self._own_config())
        if self.resistance_tolerance:
            config.update(resistance_tolerance=self.resistance_tolerance, seed=self.seed)
        if self.bounds is not None:
            config["bounds"] = list(self.bounds)
        if self.levels is not None:
            config["levels"] = self.levels
        return config

    def _own_config(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v!r}" for k, v in self.to_config().items() if k != "kind")
        return f"{type(self).__name__}({items})"


class Resistive(Port):
    """A matched resistive port: ``dtheta/dtau = -e/R``, gradient descent with ``lr = dtau/R``.

    Parameters
    ----------
    resistance : float
        Port impedance ``R > 0`` (effort per unit flow).
    resistance_tolerance : float
        Relative resistor tolerance ``t`` in ``[0, 1)``: each parameter's resistor is drawn uniformly
        in ``[R (1 - t), R (1 + t)]`` (see :meth:`Port.draw_resistances`); 0 = ideal.
    seed : int
        Seed of the resistor draws (>= 0).
    dtau, bounds, levels, leak
        See :class:`Port`.

    Examples
    --------
    >>> Resistive(10.0).learning_rate
    0.1
    """

    kind = "resistive"

    def __init__(self, resistance: float, *, resistance_tolerance: float = 0.0, seed: int = 0, **options):
        self.resistance = check_positive("resistance", resistance)
        self._set_tolerance(resistance_tolerance, seed)
        super().__init__(**options)

    @property
    def learning_rate(self) -> float:
        """``dtau / R``."""
        return self.dtau / self.resistance

    def _advance(self, arrays, drive, resistance):
        arrays[0] -= (self.dtau / resistance) * drive

    def _own_config(self):
        return {"resistance": self.resistance}


class Inertial(Port):
    """A mass ``M`` in series with a resistance ``R``: heavy-ball momentum.

    ``M du/dtau = -e - R u`` with velocity ``u = dtheta/dtau`` (the flow is ``v = -u``), integrated by
    semi-implicit Euler::

        u <- u + (dtau/M) (-e - R u);   theta <- theta + dtau u

    which is ``Delta_{n+1} = mu Delta_n - lr e`` with ``mu = 1 - dtau R/M`` and ``lr = dtau^2/M``.

    Parameters
    ----------
    mass : float
        Inertance ``M > 0``.
    resistance : float
        Series resistance ``R > 0``; ``dtau R (1 + resistance_tolerance) / M`` must lie in (0, 1]
        (so ``0 <= mu < 1`` for every drawn resistor).
    resistance_tolerance, seed : float, int
        Per-parameter resistor tolerance and its seed, as for :class:`Resistive`.
    dtau, bounds, levels, leak
        See :class:`Port`.
    """

    kind = "inertial"
    state_names = ("velocity",)

    def __init__(self, mass: float, resistance: float, *, resistance_tolerance: float = 0.0, seed: int = 0,
                 **options):
        self.mass = check_positive("mass", mass)
        self.resistance = check_positive("resistance", resistance)
        self._set_tolerance(resistance_tolerance, seed)
        super().__init__(**options)
        check_range("dtau * resistance / mass", self.dtau * self.resistance / self.mass, 0.0, 1.0,
                    low_inclusive=False)
        if self.resistance_tolerance:  # the largest drawn resistor must keep the momentum >= 0
            check_range("dtau * resistance * (1 + resistance_tolerance) / mass",
                        self.dtau * self.resistance * (1 + self.resistance_tolerance) / self.mass, 0.0, 1.0,
                        low_inclusive=False)

    @classmethod
    def from_momentum(cls, learning_rate: float, momentum: float, dtau: float = 1.0, **options) -> "Inertial":
        """The port with ``lr = dtau^2/M`` and ``mu = 1 - dtau R/M`` (``0 <= mu < 1``)."""
        learning_rate = check_positive("learning_rate", learning_rate)
        momentum = check_range("momentum", momentum, 0.0, 1.0, high_inclusive=False)
        mass = dtau * dtau / learning_rate
        return cls(mass, (1.0 - momentum) * mass / dtau, dtau=dtau, **options)

    @property
    def learning_rate(self) -> float:
        """``dtau^2 / M``."""
        return self.dtau * self.dtau / self.mass

    @property
    def momentum(self) -> float:
        """``1 - dtau R / M``."""
        return 1.0 - self.dtau * self.resistance / self.mass

    def _advance(self, arrays, drive, resistance):
        h, m, r = self.dtau, self.mass, resistance
        latent, u = arrays
        # u + (h/m) (-e - r u), in place with one temporary: -e - r u is -(e + r u) exactly, and
        # (h/m) (-x) is -(h/m) x exactly, so the bits equal the out-of-place expression's
        force = r * u
        force += drive
        force *= -(h / m)
        u += force
        if h == 1.0:  # u * 1.0 is u exactly: one whole-array operation fewer
            latent += u
        else:
            np.multiply(u, h, out=force)
            latent += force

    def _own_config(self):
        return {"mass": self.mass, "resistance": self.resistance}


class GaussNewton(Port):
    """A Hessian-matched port: impedance ``R = G + damping I`` with ``G`` the Gauss-Newton matrix.

    ``dtheta/dtau = -R^{-1} e`` over all parameters at once: damped Newton steps (``dtau = 1`` is a
    full step). ``G`` is ``P x P`` for ``P`` parameters, so this port is for small networks.

    Parameters
    ----------
    damping : float
        Levenberg-Marquardt damping ``> 0`` (effort per unit flow).
    dtau, bounds, levels, leak
        See :class:`Port`.
    """

    kind = "gauss_newton"

    def __init__(self, damping: float, **options):
        self.damping = check_positive("damping", damping)
        super().__init__(**options)

    @property
    def resistance(self) -> float:  # scalar part, used only when no curvature is at hand
        return self.damping

    def _matrix(self, curvature):
        if curvature is None:
            raise ConfigurationError("a GaussNewton port needs the batch curvature (the trainer supplies it)")
        matrix = np.asarray(curvature(), dtype=float)
        return matrix + self.damping * np.eye(len(matrix))

    def update(self, state, efforts, curvature=None, params=None, power=False):
        # all parameters at once (one solve couples them), so no blocks: for small networks only
        params = self.parameters(state) if params is None else params
        old = [p.copy() for p in params] if power else None
        drive = [e + self.leak * p if self.leak else e for e, p in zip(efforts, params)]
        matrix = self._matrix(curvature)
        factor = cho_factor(matrix)  # R is symmetric positive definite: one Cholesky for all solves
        step = self.dtau * cho_solve(factor, np.concatenate([e.ravel() for e in drive]))
        start = 0
        for latent, device in zip(state["latent"], params):
            latent -= step[start:start + latent.size].reshape(latent.shape)
            start += latent.size
            self._settle(latent, device)
        if not power:
            return None
        return self._power(efforts, [(o - n) / self.dtau for o, n in zip(old, params)], matrix, factor)

    @staticmethod
    def _power(efforts, flows, matrix, factor):
        e = np.concatenate([x.ravel() for x in efforts])
        v = np.concatenate([x.ravel() for x in flows])
        # b = R^{-1/2} (e - R v) / 2, a = R^{-1/2} (e + R v) / 2 with the matrix impedance R
        minus, plus = e - matrix @ v, e + matrix @ v
        reflected_all = minus * cho_solve(factor, minus) / 4
        incident_all = plus * cho_solve(factor, plus) / 4
        sizes = np.cumsum([x.size for x in efforts])[:-1]
        return PortPower(
            np.array([float(np.sum(x)) for x in np.split(e * v, sizes)]),
            np.array([float(np.sum(x)) for x in np.split(reflected_all, sizes)]),
            np.array([float(np.sum(x)) for x in np.split(incident_all, sizes)]),
        )

    def _own_config(self):
        return {"damping": self.damping}


class Frozen(Port):
    """An open port: no flow, the parameters are held (learning rate 0).

    Used to read the efforts of a substrate without changing it. It absorbs nothing; with no
    finite impedance the port-wave split is undefined, so its powers are reported as zero.
    """

    kind = "frozen"
    resistance = math.inf

    def __init__(self):
        super().__init__()

    def update(self, state, efforts, curvature=None, params=None, power=False):
        if not power:
            return None
        zero = np.zeros(len(efforts))
        return PortPower(zero, zero.copy(), zero.copy())

    def to_config(self) -> dict:
        return {"kind": self.kind}


class Leak:
    """A leak conductance to ground (weight decay), combined with a port: ``Resistive(10) + Leak(1e-3)``.

    Parameters
    ----------
    conductance : float
        ``G_leak >= 0``: the port dissipates ``e + G_leak theta``.
    """

    kind = "leak"

    def __init__(self, conductance: float):
        self.conductance = check_range("conductance", conductance, 0.0, None)

    def __add__(self, other):
        if isinstance(other, Port):
            return other + self
        if isinstance(other, Leak):
            return Leak(self.conductance + other.conductance)
        return NotImplemented

    __radd__ = __add__

    def __repr__(self) -> str:
        return f"Leak({self.conductance!r})"


PORT_KINDS = {"resistive": Resistive, "inertial": Inertial, "gauss_newton": GaussNewton, "frozen": Frozen}


def from_config(config: dict) -> Port:
    """Build a port from a config table such as ``{"kind": "inertial", "mass": 20, "resistance": 2}``.

    Keys: ``kind`` (resistive | inertial | gauss_newton), the kind's own parameters (``resistance``;
    ``mass`` and ``resistance``; ``damping``), and ``dtau``, ``leak``, ``bounds``, ``levels``;
    resistive and inertial ports also take ``resistance_tolerance`` and ``seed``.
    """
    config = dict(config)
    kind = config.pop("kind", "resistive")
    if kind not in PORT_KINDS:
        raise ConfigurationError(f"port.kind = {kind!r} is unknown; valid: {sorted(PORT_KINDS)}")
    own = {"resistive": ("resistance",), "inertial": ("mass", "resistance"), "gauss_newton": ("damping",),
           "frozen": ()}[kind]
    allowed = set(own) | ({"dtau", "leak", "bounds", "levels"} if own else set())
    if kind in ("resistive", "inertial"):
        allowed |= {"resistance_tolerance", "seed"}
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ConfigurationError(f"port.{unknown[0]} is not a parameter of a {kind} port; valid: {sorted(allowed)}")
    missing = [name for name in own if name not in config]
    if missing:
        raise ConfigurationError(f"port.{missing[0]} is required for a {kind} port")
    return PORT_KINDS[kind](**config)


def gauss_newton_matrix(net, x: np.ndarray, target: np.ndarray, loss) -> np.ndarray:
    """Gauss-Newton matrix ``G = mean_n J_n^T H_n J_n`` of the batch-mean loss, ``P x P``.

    ``J_n = d a_L / d theta`` per sample (output Jacobian, by one backward sweep per output unit,
    vectorised over the batch) and ``H_n = d^2 c / d a_L^2`` (identity for MSE, ``diag(p) - p p^T``
    for softmax cross-entropy).
    """
    forward, slopes = [x], []
    for layer in net.layers:
        a, slope = layer.transmit(forward[-1])
        forward.append(a)
        slopes.append(slope)
    batch, n_out = forward[-1].shape
    columns = []
    for j in range(n_out):  # one backward sweep per output unit, all samples at once
        s = np.zeros((batch, n_out))
        s[:, j] = 1.0
        per_layer = []
        for layer, a_prev, slope in zip(reversed(net.layers), reversed(forward[:-1]), reversed(slopes)):
            delta = slope * s * getattr(layer, "step", 1.0)
            per_layer.insert(0, np.concatenate([(delta[:, :, None] * a_prev[:, None, :]).reshape(batch, -1), delta], 1))
            s = layer.reflect_back(slope, s)
        columns.append(np.concatenate(per_layer, axis=1))
    jacobian = np.stack(columns, axis=1)  # (batch, n_out, P)
    if loss.name == "cross_entropy":
        # H_n = diag(p_n) - p_n p_n^T, so J^T H J = (sqrt(p) J)^T (sqrt(p) J) - (J^T p)(J^T p)^T
        shifted = forward[-1] - forward[-1].max(axis=1, keepdims=True)
        p = np.exp(shifted)
        p /= p.sum(axis=1, keepdims=True)
        scaled = (np.sqrt(p)[:, :, None] * jacobian).reshape(-1, jacobian.shape[2])
        projected = np.einsum("nip,ni->np", jacobian, p)
        return (scaled.T @ scaled - projected.T @ projected) / batch
    flat = jacobian.reshape(-1, jacobian.shape[2])
    return flat.T @ flat / batch
