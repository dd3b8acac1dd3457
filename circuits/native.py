"""The project's own engine for the exported trainer circuits (:mod:`circuits.realize`).

- :func:`simulate_tline_trainer` / :func:`simulate_tline_batch`: the transmission-line trainer
  (:func:`~circuits.realize.tline_trainer`): lossless lines as exact delays (ring buffers), matched
  junctions algebraic, parameter capacitors (resistive or inertial ports) integrated by RK4 that is
  exact across the wave fronts (:mod:`circuits.tline_engine`): fourth order in ``h = td / steps_per_td``,
  and one step per line delay (the default) is already more accurate than the exported netlist run by
  ngspice at its own tolerances.
- :func:`simulate_rc_trainer` / :func:`simulate_rc_batch`: the lumped dyadic RC trainer
  (:func:`~circuits.realize.rc_trainer`), RK4 on its node and parameter voltages (:mod:`circuits.rc_engine`).

The ``*_batch`` functions run independent circuit instances (different initial parameters, learning
rates, leaks, loss-port gains) in one compiled call; the instance axis is innermost in the kernels, so
the compiler vectorises across instances. The kernels are numba functions compiled on first use and
cached on disk (``cache=True``): the first call on a machine pays the compilation (seconds), later
processes load it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from substrate.errors import ConfigurationError, NumericalError, check_positive, check_range
from substrate.network import get_loss
from substrate.network.network import Network

from .junctions import LOSS_CODES, Layout
from .rc_engine import run_rc
from .specialise import SPECIALISE_LIMIT, specialised
from .tline_engine import run_tline

__all__ = ["TLineTrajectory", "TLineBatch", "RCTrajectory", "RCBatch", "simulate_tline_trainer",
           "simulate_tline_batch", "simulate_rc_trainer", "simulate_rc_batch"]


@dataclass
class TLineTrajectory:
    """Recorded trajectory of the native transmission-line trainer.

    Attributes
    ----------
    t : ndarray, shape (T,)
        Times in s.
    params : list of ndarray
        Parameter trajectories aligned with ``net.params``, each of shape ``(T,) + shape``.
    loss : ndarray, shape (T,)
        Batch-mean cost of the waves arriving at the loss port.
    a, s : list of ndarray
        Arriving forward waves at the far end of link k and backward waves at junction k,
        each ``(T, batch, n_k)`` for ``k = 1..L`` (right limits at the recorded times).
    """

    t: np.ndarray
    params: list
    loss: np.ndarray
    a: list
    s: list


@dataclass
class TLineBatch:
    """Recorded trajectories of independent T-line trainer instances (instance axis second).

    Attributes
    ----------
    t : ndarray, shape (T,)
        Times in s.
    params : list of ndarray
        Aligned with ``net.params``, each ``(T, instances) + shape``.
    loss : ndarray, shape (T, instances)
        Batch-mean cost at the loss port.
    a, s : list of ndarray or None
        Arriving waves per link, each ``(T, instances, batch, n_k)`` (None when not recorded).
    """

    t: np.ndarray
    params: list
    loss: np.ndarray
    a: list | None
    s: list | None

    def instance(self, p: int) -> TLineTrajectory:
        """The trajectory of instance ``p`` alone."""
        waves = self.a is not None
        return TLineTrajectory(self.t, [q[:, p] for q in self.params], self.loss[:, p],
                               [w[:, p] for w in self.a] if waves else [], [w[:, p] for w in self.s] if waves else [])


@dataclass
class RCTrajectory:
    """Recorded trajectory of the native RC trainer.

    Attributes
    ----------
    t : ndarray, shape (T,)
        Times in s.
    params : list of ndarray
        Aligned with ``net.params``, each ``(T,) + shape``.
    loss : ndarray, shape (T,)
        Batch-mean cost at the output nodes ``a+_L``.
    a, s : list of ndarray
        Node voltages ``a+_k`` and ``a-_k``, each ``(T, batch, n_k)`` for ``k = 1..L``.
    """

    t: np.ndarray
    params: list
    loss: np.ndarray
    a: list
    s: list


@dataclass
class RCBatch:
    """Recorded trajectories of independent RC trainer instances (instance axis second, as :class:`TLineBatch`)."""

    t: np.ndarray
    params: list
    loss: np.ndarray
    a: list
    s: list

    def instance(self, p: int) -> RCTrajectory:
        """The trajectory of instance ``p`` alone."""
        return RCTrajectory(self.t, [q[:, p] for q in self.params], self.loss[:, p], [w[:, p] for w in self.a],
                            [w[:, p] for w in self.s])


# --- shared input handling -------------------------------------------------------------------------
def _instances(nets) -> list:
    if isinstance(nets, Network):
        return [nets]
    nets = list(nets)
    if not nets:
        raise ConfigurationError("nets holds 0 instances; give at least 1 network")
    for p, net in enumerate(nets):
        if not isinstance(net, Network):
            raise ConfigurationError(f"instance {p} must be a substrate Network, got {type(net).__name__}")
    return nets


def _per_instance(name: str, value, instances: int, n_params: int | None = None, positive: bool = False) -> np.ndarray:
    """A rate as an array of shape ``(I,)`` (``n_params`` None) or ``(n_params, I)``, validated."""
    shape = (instances,) if n_params is None else (n_params, instances)
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # the common scalar: no array checks
        if math.isfinite(value) and (value > 0 if positive else value >= 0):
            array = np.empty(shape)
            array.fill(value)
            return array
    array = np.asarray(value, dtype=float)
    per_parameter = n_params is not None and array.shape == shape  # one value per parameter and instance
    if not per_parameter and (array.ndim > 1 or (array.ndim == 1 and len(array) != instances)):
        valid = f"({instances},) (one per instance)" + ("" if n_params is None else f" or {shape} (one per "
                                                         "parameter and instance, in Layout.pack order)")
        raise ConfigurationError(f"{name} must be a number or an array of shape {valid}, got shape {array.shape}")
    low_ok = array > 0 if positive else array >= 0
    if not np.all(np.isfinite(array) & low_ok):
        bad = float(array.ravel()[~(np.isfinite(array.ravel()) & low_ok.ravel())][0])
        raise ConfigurationError(f"{name} = {bad!r} is outside the valid range {'(0' if positive else '[0'}, inf)")
    if per_parameter:
        return np.ascontiguousarray(array)
    return np.ascontiguousarray(np.broadcast_to(np.broadcast_to(array, (instances,)), shape))


def _problem(nets, x, y, loss):
    """Validated layout, packed parameters ``theta`` (P, I), inputs (B, n_0) and targets (B, n_L)."""
    nets = _instances(nets)
    layout = Layout.of(nets[0])
    theta = layout.pack(nets)
    if not np.isfinite(theta).all():
        raise ConfigurationError("the initial parameters must be finite")
    loss = get_loss(loss)
    x = nets[0].check_input(x)
    if not np.isfinite(x).all():
        raise ConfigurationError("x must be finite")
    target = loss.target(y, layout.sizes[-1])
    if len(target) != len(x):
        raise ConfigurationError(f"x has {len(x)} samples but y has {len(target)}")
    return layout, theta, x, target.astype(float), loss


def _ports(layout, instances, learning_rate, leak_rate, inertia_rate, friction_rate):
    """State rows, port kind and rate arrays ``(P, I)`` of the parameter ports, and whether any port moves."""
    P = layout.n_params
    rate = _per_instance("learning_rate", learning_rate, instances, P)
    leak = _per_instance("leak_rate", leak_rate, instances, P)
    inertia = _per_instance("inertia_rate", inertia_rate, instances, P)
    friction = _per_instance("friction_rate", friction_rate, instances, P)
    inertial = _any_positive(inertia_rate, inertia)
    return rate, leak, inertia, friction, inertial, inertial or _any_positive(learning_rate, rate) or \
        _any_positive(leak_rate, leak)


def _any_positive(value, array: np.ndarray) -> bool:
    """Whether a validated rate (``value`` as given, ``array`` its array) is positive anywhere."""
    return value > 0 if isinstance(value, (int, float)) else bool(array.max() > 0)


def _grid(t_stop, h, record_every):
    steps = int(round(t_stop / h))
    if steps < 1:
        raise ConfigurationError(f"t_stop = {t_stop!r} s is shorter than one grid step h = {h!r} s")
    if isinstance(record_every, bool) or not float(record_every).is_integer():
        raise ConfigurationError(f"record_every = {record_every!r} must be a whole number of grid steps (>= 1)")
    record_every = int(check_range("record_every", record_every, 1, None))
    return steps, record_every, steps // record_every + 1


def _block_size(block: int | None, batch: int, lanes: int = 128) -> int:
    """Instances per block (default: about ``lanes`` lanes per block, the fastest measured: a block's work
    arrays stay in cache)."""
    return max(1, lanes // batch) if block is None else int(check_range("block", block, 1, None))


def _blocks(instances: int, block: int | None, batch: int) -> list[slice]:
    """Instance blocks run one after another (:func:`_block_size` instances each)."""
    size = _block_size(block, batch)
    return [slice(start, min(start + size, instances)) for start in range(0, instances, size)]


def _lanes(array: np.ndarray, batch: int) -> np.ndarray:
    """Per-instance ``(I,)`` as lanes ``(batch I,)``: lane ``c = n I + p`` holds instance ``p``'s value."""
    return np.broadcast_to(array, (batch, len(array))).reshape(batch * len(array))


def _sample_lanes(samples: np.ndarray, instances: int) -> np.ndarray:
    """Per-sample rows ``(batch, n)`` as lanes ``(n, batch I)``: lane ``c = n I + p`` holds sample ``n``."""
    return np.ascontiguousarray(samples.T) if instances == 1 else np.repeat(samples.T, instances, axis=1)


def _initial_state(theta: np.ndarray, inertial: bool) -> np.ndarray:
    """The integrated state ``(S, I)``: the parameters, then (inertial ports) their flows, starting at 0."""
    return np.ascontiguousarray(np.concatenate([theta, np.zeros_like(theta)]) if inertial else theta)


def _instance_second(arrays: list) -> list:
    """``(T,) + shape + (I,)`` records as ``(T, I) + shape`` views."""
    return [a.transpose((0, a.ndim - 1) + tuple(range(1, a.ndim - 1))) for a in arrays]


def _failed(step, h):
    if step >= 0:
        raise NumericalError(f"parameters became non-finite at t = {step * h!r} s (step {step})")


#: divergence limits of a circuit run, as :func:`substrate.train`'s: parameter voltages beyond
#: PARAMETER_LIMIT, or a loss beyond LOSS_GROWTH x max(initial loss, 1)
PARAMETER_LIMIT, LOSS_GROWTH = 1e6, 1e3
#: classical RK4 is stable on dv/dt = -v / tau for h / tau up to 2.785 (the real-axis stability interval)
RK4_STABLE = 2.78


def _diverged(record_peak: np.ndarray, record_loss: np.ndarray, dt: float) -> None:
    """Raise :class:`NumericalError` at the first recorded time where an instance diverged (finite but runaway).

    ``record_peak`` ``(T, I)`` the largest parameter magnitude of each record and instance, ``record_loss``
    ``(T, I)``, ``dt`` the time between records in s.
    """
    record, instance = _first_runaway(record_peak, record_loss, PARAMETER_LIMIT, LOSS_GROWTH)
    if record >= 0:
        largest = float(record_peak[record, instance])
        quantity = (f"a parameter reached {largest:.3g} V (limit {PARAMETER_LIMIT:g})" if largest > PARAMETER_LIMIT else
                    f"the loss reached {float(record_loss[record, instance]):.3g} (limit {LOSS_GROWTH:g} x max(initial "
                    f"{float(record_loss[0, instance]):.3g}, 1))")
        raise NumericalError(f"diverging at t = {record * dt!r} s, instance {instance}: {quantity}; lower the "
                             "learning rate (a larger port resistance or capacitance) or the step")


@njit(cache=True)
def _first_runaway(record_peak, record_loss, limit, growth):
    """First ``(record, instance)``, record-major, with a largest ``|theta|`` above ``limit`` or a loss beyond
    ``growth x max(initial loss, 1)``; ``(-1, -1)`` if none (NaN counts as neither, as in numpy comparisons)."""
    records, instances = record_peak.shape
    for t in range(records):
        for p in range(instances):
            if record_peak[t, p] > limit or record_loss[t, p] > growth * np.maximum(record_loss[0, p], 1.0):
                return t, p
    return -1, -1


# --- the transmission-line trainer ------------------------------------------------------------------
def simulate_tline_batch(nets, x, y, loss: str = "mse", beta=1.0, td: float = 1e-9, t_stop: float | None = None,
                         steps_per_td: int = 1, learning_rate=0.0, leak_rate=0.0, record_every: int = 1,
                         inertia_rate=0.0, friction_rate=0.0, record_waves: bool = True,
                         block: int | None = None, specialise: bool = True) -> TLineBatch:
    """Simulate independent instances of the :func:`~circuits.realize.tline_trainer` circuit in one compiled call.

    Parameters
    ----------
    nets : Network or sequence of Network
        Initial parameters of each instance (same architecture; not modified).
    x, y : ndarray
        Batch (one wave network per sample, shared by the instances) and targets.
    loss : {"mse", "cross_entropy"}
    beta : float or ndarray, shape (instances,)
        Loss-port gain (> 0).
    td : float
        Line delay in s (> 0).
    t_stop : float, optional
        End time in s (default ``(2L + 2) td``); rounded to a whole number of grid steps.
    steps_per_td : int
        RK4 steps per line delay (>= 1; the default 1 is the fast exact setting).
    learning_rate, leak_rate : float or ndarray, shape (instances,) or (n_params, instances)
        ``1/(R C)`` of the resistive parameter ports and ``1/(R_leak C)``, in 1/s (>= 0; 0, 0: frozen); a
        ``(n_params, instances)`` array gives every parameter of every instance its own rate (component
        tolerances), rows in :meth:`circuits.junctions.Layout.pack` order.
    record_every : int
        Keep every ``record_every``-th grid point.
    inertia_rate, friction_rate : float or ndarray, shape (instances,)
        Inertial ports (``tline_trainer(..., inductance=M)``): ``1/(M C)`` in 1/s^2 and ``R/M`` in 1/s. When
        any ``inertia_rate > 0`` the flow ``v`` obeys ``dv/dt = -inertia_rate e - friction_rate v`` and
        ``dtheta/dt = v - leak_rate theta`` (``learning_rate`` is then unused).
    record_waves : bool
        Record the arriving waves (``a``, ``s``); off saves memory for large batches.
    block : int, optional
        Instances advanced together (>= 1; default about 128 sample lanes, 1024 with the specialised
        kernel); blocks run one after another, so a block's working set stays in cache. Results do not
        depend on it.
    specialise : bool
        Run the kernel compiled for this architecture (:mod:`circuits.specialise`: the junction field as
        straight-line code, once per architecture and machine) when it has at most ``SPECIALISE_LIMIT``
        parameters; False, or a larger network: the generic kernel. Both give the same results to rounding.

    Returns
    -------
    TLineBatch
    """
    layout, theta, x, target, loss = _problem(nets, x, y, loss)
    instances = theta.shape[1]
    beta = _per_instance("beta", beta, instances, positive=True)
    td = check_positive("td", td)
    if isinstance(steps_per_td, bool) or not float(steps_per_td).is_integer():
        raise ConfigurationError(f"steps_per_td = {steps_per_td!r} must be a whole number of steps per line delay")
    M = int(check_range("steps_per_td", steps_per_td, 1, 100_000))
    depth = len(layout.table)
    t_stop = (2 * depth + 2) * td if t_stop is None else check_positive("t_stop", t_stop)
    h = td / M
    steps, record_every, records = _grid(t_stop, h, record_every)
    rate, leak, inertia, friction, inertial, moving = _ports(layout, instances, learning_rate, leak_rate, inertia_rate,
                                                             friction_rate)
    batch, nodes, P = x.shape[0], layout.n_nodes, layout.n_params
    specialise = bool(specialise) and P <= SPECIALISE_LIMIT
    kernel = specialised(run_tline, layout, LOSS_CODES[loss.name], batch) if specialise else run_tline
    size = _block_size(block, batch, 1024 if specialise else 128)
    record_params = np.empty((records, P, instances))
    record_loss, record_peak = np.empty((records, instances)), np.empty((records, instances))
    record_a = np.empty((records if record_waves else 0, nodes, batch, instances))
    record_s = np.empty_like(record_a)
    failed = kernel(layout.table, layout.activations, LOSS_CODES[loss.name], beta, np.ascontiguousarray(x.T),
                    np.ascontiguousarray(target.T), _initial_state(theta, inertial), P, inertial, moving, rate, leak,
                    inertia, friction, h, M, steps, record_every, record_params, record_loss, record_peak, record_a,
                    record_s, record_waves, size)
    _failed(failed, h)
    _diverged(record_peak, record_loss, record_every * h)
    t = np.arange(records) * record_every * h
    params = _instance_second(layout.unpack(record_params))
    a = layout.links(record_a) if record_waves else None
    s = layout.links(record_s) if record_waves else None
    return TLineBatch(t, params, record_loss, a, s)


def simulate_tline_trainer(net: Network, x, y, loss: str = "mse", beta: float = 1.0, td: float = 1e-9,
                           t_stop: float | None = None, steps_per_td: int = 1, learning_rate: float = 0.0,
                           leak_rate: float = 0.0, record_every: int = 1, inertia_rate: float = 0.0,
                           friction_rate: float = 0.0, record_waves: bool = True) -> TLineTrajectory:
    """Simulate the circuit of :func:`~circuits.realize.tline_trainer` (one instance).

    The arguments are those of :func:`simulate_tline_batch` for a single network and scalar rates:
    ``td`` in s, ``learning_rate`` and ``leak_rate`` in 1/s, ``inertia_rate`` in 1/s^2, ``friction_rate``
    in 1/s; ``steps_per_td`` RK4 steps per line delay (default 1, fourth order); ``record_waves`` False leaves
    ``a`` and ``s`` empty (parameters and loss only).

    Returns
    -------
    TLineTrajectory
    """
    if not isinstance(net, Network):
        raise ConfigurationError(f"net must be a substrate Network, got {type(net).__name__}")
    return simulate_tline_batch(net, x, y, loss, beta, td, t_stop, steps_per_td, learning_rate, leak_rate,
                                record_every, inertia_rate, friction_rate, record_waves).instance(0)


# --- the lumped dyadic RC trainer -------------------------------------------------------------------
def simulate_rc_batch(nets, x, y, loss: str = "mse", beta=1.0, tau=1e-6, t_stop: float | None = None,
                      step: float | None = None, learning_rate=0.0, leak_rate=0.0, record_every: int = 1,
                      inertia_rate=0.0, friction_rate=0.0, block: int | None = None) -> RCBatch:
    """Simulate independent instances of the :func:`~circuits.realize.rc_trainer` circuit in one compiled call.

    Parameters
    ----------
    nets : Network or sequence of Network
        Initial parameters of each instance (same architecture).
    x, y : ndarray
        Batch (one node network per sample) and targets.
    loss : {"mse", "cross_entropy"}
    beta : float or ndarray, shape (instances,)
        Loss-port gain (> 0).
    tau : float or ndarray, shape (instances,)
        Node time constant ``R C`` in s (> 0; ``info["tau"]`` of the circuit).
    t_stop : float, optional
        End time in s (default ``4 L tau``, as the exported netlist).
    step : float, optional
        RK4 step in s (default ``tau / 50``: fourth order, within 1e-8 V of ``Dyadic.integrate`` on unit
        signals; the exported netlist's trapezoidal ``.tran`` at ``tau / 20`` is within about 1e-6).
    learning_rate, leak_rate, inertia_rate, friction_rate, record_every, block
        As in :func:`simulate_tline_batch` (``learning_rate = 1/(R_port C_port)`` in 1/s).

    Returns
    -------
    RCBatch
    """
    layout, theta, x, target, loss = _problem(nets, x, y, loss)
    instances = theta.shape[1]
    beta = _per_instance("beta", beta, instances, positive=True)
    tau = _per_instance("tau", tau, instances, positive=True)
    depth = len(layout.table)
    t_stop = 4 * depth * float(np.max(tau)) if t_stop is None else check_positive("t_stop", t_stop)
    h = float(np.min(tau)) / 50 if step is None else check_positive("step", step)
    if h > RK4_STABLE * float(np.min(tau)):  # RK4 on the nodes' own decay dv/dt = -v / tau is unstable beyond
        raise ConfigurationError(f"step = {h!r} s exceeds the RK4 stability limit {RK4_STABLE} tau = "
                                 f"{RK4_STABLE * float(np.min(tau))!r} s (smallest tau {float(np.min(tau))!r} s); "
                                 f"valid: (0, {RK4_STABLE * float(np.min(tau))!r}] s")
    steps, record_every, records = _grid(t_stop, h, record_every)
    rate, leak, inertia, friction, inertial, _ = _ports(layout, instances, learning_rate, leak_rate, inertia_rate,
                                                        friction_rate)
    batch, nodes, P = x.shape[0], layout.n_nodes, layout.n_params
    record_params = np.empty((records, P, instances))
    record_loss = np.empty((records, instances))
    record_waves = np.empty((records, 2, nodes, batch, instances))
    failed = -1
    for part in _blocks(instances, block, batch):
        n = part.stop - part.start
        state = _initial_state(theta[:, part], inertial)
        parts = (np.empty((records, P, n)), np.empty((records, n)), np.empty((records, 2, nodes, batch * n)))
        code = run_rc(layout.table, layout.activations, LOSS_CODES[loss.name], _lanes(beta[part], batch),
                      _lanes(tau[part], batch), _sample_lanes(x, n), _sample_lanes(target, n),
                      np.zeros((2, nodes, batch * n)), state, P, batch, inertial,
                      *(np.ascontiguousarray(a[:, part]) for a in (rate, leak, inertia, friction)), h, steps,
                      record_every, *parts)
        failed = code if failed < 0 or 0 <= code < failed else failed
        record_params[..., part], record_loss[:, part] = parts[0], parts[1]
        record_waves[..., part] = parts[2].reshape(records, 2, nodes, batch, n)
    _failed(failed, h)
    _diverged(np.max(np.abs(record_params), axis=1), record_loss, record_every * h)
    t = np.arange(records) * record_every * h
    params = _instance_second(layout.unpack(record_params))
    a, s = layout.links(record_waves[:, 0]), layout.links(record_waves[:, 1])
    return RCBatch(t, params, record_loss, a, s)


def simulate_rc_trainer(net: Network, x, y, loss: str = "mse", beta: float = 1.0, tau: float = 1e-6,
                        t_stop: float | None = None, step: float | None = None, learning_rate: float = 0.0,
                        leak_rate: float = 0.0, record_every: int = 1, inertia_rate: float = 0.0,
                        friction_rate: float = 0.0) -> RCTrajectory:
    """Simulate the circuit of :func:`~circuits.realize.rc_trainer` (one instance; see :func:`simulate_rc_batch`).

    ``tau = R C`` in s, ``step`` in s, rates in 1/s. Returns an :class:`RCTrajectory`.
    """
    if not isinstance(net, Network):
        raise ConfigurationError(f"net must be a substrate Network, got {type(net).__name__}")
    return simulate_rc_batch(net, x, y, loss, beta, tau, t_stop, step, learning_rate, leak_rate, record_every,
                             inertia_rate, friction_rate).instance(0)
