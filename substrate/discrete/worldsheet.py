"""Level 0: the discrete worldsheet, a wave iteration whose fixed point is backpropagation.

Every junction updates at once from the step-``n`` waves of its two neighbouring links
(physics.md, section 3)::

    a_k  <- a_k + nu (phi_k(a_{k-1}) - a_k)                          k = 1..L
    s_L  <- s_L + nu (beta dc/da_L(a_L, y) - s_L)
    s_{k-1} <- s_{k-1} + nu ((dphi_k/da_{k-1})^T s_k - s_{k-1})       k = 1..L

``nu`` is the Courant number. At ``nu = 1`` the forward wave of link ``k`` is exact from step ``k``,
the backward wave from step ``2L + 1 - k``, and every parameter-port effort is the exact backprop
gradient from step ``2L`` on, whatever the initial waves: the light cone of a round trip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigurationError, check_range, warn
from ..network import Loss, Network, WaveState, emitted_waves, get_loss, port_efforts, reference_waves
from ..network.backprop import gradient_error

__all__ = ["Worldsheet", "RelaxationHistory", "check_courant", "courant_floor", "largest_courant", "relaxation_steps",
           "relax_toward", "initial_state", "FLOOR_LIMIT"]


#: largest accepted float64 error floor of a Courant number in (1, 2) (see :func:`courant_floor`)
FLOOR_LIMIT = 1e-3


def courant_floor(depth: int, courant: float) -> float:
    """Predicted float64 error floor of the wave iteration at Courant number ``nu``: ``eps (nu/(2-nu))^(2L-2)``.

    Each stage of the chain (``2L`` links, the loss and input ports at the ends) responds to a unit
    impulse with ``nu (1 - nu)^n``, whose l1 norm is ``nu / (1 - |1 - nu|)``: 1 for ``nu <= 1`` and
    ``nu / (2 - nu)`` in (1, 2). Rounding errors of size ``eps`` made at every step pass through up to
    ``2L - 2`` interior stages, so the relative error stalls near ``eps (nu/(2-nu))^(2L-2)``
    (physics.md, section 3; measured within a factor 30 by ``tests/test_worldsheet.py``).

    Parameters
    ----------
    depth : int
        Network depth ``L`` (>= 1).
    courant : float
        Courant number in (0, 2).

    Returns
    -------
    float
        The predicted relative gradient error floor (dimensionless); ``eps`` for ``nu <= 1``.
    """
    gain = max(courant / (2.0 - courant), 1.0)
    return float(np.finfo(float).eps * gain ** (2 * depth - 2))


def largest_courant(depth: int, floor: float = FLOOR_LIMIT) -> float:
    """The Courant number at which :func:`courant_floor` reaches ``floor`` for depth ``L`` (2 for L = 1)."""
    if depth <= 1:
        return 2.0
    gain = (floor / np.finfo(float).eps) ** (1.0 / (2 * depth - 2))
    return float(2.0 * gain / (1.0 + gain))


def check_courant(name: str, value: float, depth: int | None = None) -> float:
    """Validate a Courant number (Euler step) for a network of depth ``depth``.

    Outside (0, 2) is an error. Inside (1, 2) the iteration converges in exact arithmetic but, in
    float64, stalls at :func:`courant_floor`: a warning states that floor, and a floor above
    :data:`FLOOR_LIMIT` (1e-3) is an error. Without ``depth`` only the range is checked (and (1, 2)
    warns without a floor).
    """
    value = check_range(name, value, 0.0, 2.0, low_inclusive=False, high_inclusive=False)
    if value > 1.0:
        if depth is None:
            warn(f"{name} = {value} lies in (1, 2): large transient growth (non-normal iteration) and a float64 "
                 "error floor eps (nu/(2-nu))^(2L-2); (0, 1] is the well-behaved range")
            return value
        floor = courant_floor(depth, value)
        if floor > FLOOR_LIMIT:
            raise ConfigurationError(
                f"{name} = {value} at depth L = {depth}: the float64 error floor eps (nu/(2-nu))^(2L-2) = "
                f"{floor:.1e} exceeds {FLOOR_LIMIT:g}; the valid range at this depth is "
                f"(0, {largest_courant(depth):.4f}] ((0, 1] is the well-behaved range)"
            )
        warn(f"{name} = {value} lies in (1, 2): large transient growth (non-normal iteration), and in float64 the "
             f"gradient error stalls near eps (nu/(2-nu))^(2L-2) = {floor:.1e} (L = {depth}); (0, 1] is the "
             "well-behaved range")
    return value


def relaxation_steps(depth: int, courant: float, tolerance: float = 1e-10) -> int:
    """Wave steps after which any initial wave error has decayed by ``tolerance`` (``2L`` at Courant 1).

    The iteration matrix of a depth-``L`` chain is ``(1 - nu) I + nu N`` with ``N`` nilpotent of index
    ``2L``, so after ``n`` steps an initial error is multiplied by
    ``sum_{j<2L} C(n, j) |1 - nu|^(n-j) nu^j N^j``. This returns the smallest ``n >= 2L`` for which the
    scalar factor ``sum_{j<2L} C(n, j) |1 - nu|^(n-j) nu^j`` (a binomial tail for ``nu < 1``) is at most
    ``tolerance``. With warm-started waves the default 1e-10 gave gradient errors of 1e-11 to 2e-10 on
    xor at ``nu`` = 0.3 to 0.8 (``tests/test_reliability.py`` bounds them by 1e-7).

    Parameters
    ----------
    depth : int
        Network depth ``L``.
    courant : float
        Courant number in (0, 2).
    tolerance : float
        Decay asked of the scalar factor (dimensionless).

    Returns
    -------
    int
        Wave steps per relaxation (``2L`` at ``courant = 1``).
    """
    from scipy.special import gammaln

    depth, courant = int(depth), float(courant)
    links = 2 * depth
    if courant == 1.0:
        return links
    j = np.arange(links)

    def factor(n: int) -> float:
        return float(np.exp(gammaln(n + 1) - gammaln(j + 1) - gammaln(n - j + 1) + (n - j) * np.log(abs(1.0 - courant))
                            + j * np.log(courant)).sum())

    def done(n: int) -> bool:  # below tolerance and past the factor's single peak
        return factor(n) <= tolerance and factor(n + 1) <= factor(n)

    high = links
    while not done(high):
        high *= 2
    low = high // 2
    while high - low > 1:  # bisection: done(n) is false below the answer and true from it on
        middle = (low + high) // 2
        low, high = (low, middle) if done(middle) else (middle, high)
    return max(high, links)


def relax_toward(wave: np.ndarray, emitted: np.ndarray, nu: float) -> np.ndarray:
    """One Euler (Courant) step of a link: ``wave + nu (emitted - wave)``; at ``nu = 1`` exactly ``emitted``.

    The unit step assigns the emitted wave itself: ``wave + (emitted - wave)`` would round a tiny
    ``emitted`` against a large ``wave`` (a 4e-18 gradient under an O(1) warm start came out with
    relative error 1). Other steps keep the incremental form (bit for bit the trainer's history).
    """
    if nu == 1.0:
        return emitted
    return wave + nu * (emitted - wave)


def initial_state(net: Network, x: np.ndarray, init: str = "zeros", rng=None) -> WaveState:
    """Initial waves for a batch ``x``: ``"zeros"`` (rest) or ``"random"`` (standard normal).

    The input link always carries ``a_0 = x`` (the input port is a matched source).
    """
    if init not in ("zeros", "random"):
        raise ConfigurationError(f"init = {init!r} is unknown; valid: 'zeros', 'random'")
    rng = np.random.default_rng(rng)
    batch = len(x)

    def wave(n):
        return rng.standard_normal((batch, n)) if init == "random" else np.zeros((batch, n))

    sizes = net.sizes
    return WaveState([x] + [wave(n) for n in sizes[1:]], [wave(n) for n in sizes], 0.0)


@dataclass
class RelaxationHistory:
    """What a relaxation did, step by step (index ``n`` = after ``n`` steps, ``n = 0..steps``).

    Attributes
    ----------
    forward_error, backward_error : ndarray, shape (steps + 1, L + 1)
        Largest absolute deviation of each link's wave from its fixed point (the backprop value).
    forward_rms, backward_rms : ndarray, shape (steps + 1, L + 1)
        Root-mean-square wave amplitude on each link.
    gradient_error : ndarray, shape (steps + 1,)
        Relative error of the port efforts against backprop (see ``gradient_error``).
    """

    forward_error: np.ndarray
    backward_error: np.ndarray
    forward_rms: np.ndarray
    backward_rms: np.ndarray
    gradient_error: np.ndarray

    @property
    def steps(self) -> np.ndarray:
        return np.arange(len(self.gradient_error))


class Worldsheet:
    """The discrete wave substrate of a network (level 0).

    Parameters
    ----------
    net : Network
        The network whose junctions scatter the waves.
    loss : {"mse", "cross_entropy"} or Loss
        Cost at the reflecting loss port.
    courant : float
        Courant number ``nu`` in (0, 2); 1 is the unit step (exact in 2L steps). (1, 2) warns.
    beta : float
        Scale of the backward waves, ``s = beta g`` at rest (> 0). Efforts do not depend on it.
    """

    def __init__(self, net: Network, loss: str | Loss = "mse", courant: float = 1.0, beta: float = 1.0):
        self.net = net
        self.loss = get_loss(loss)
        self.courant = check_courant("courant", courant, net.depth)
        self.beta = check_range("beta", beta, 0.0, None, low_inclusive=False)

    def initial_state(self, x, init: str = "zeros", rng=None) -> WaveState:
        """Initial waves for inputs ``x``: ``"zeros"`` or ``"random"`` (see :func:`initial_state`)."""
        return initial_state(self.net, self.net.check_input(x), init, rng)

    def step(self, state: WaveState, target: np.ndarray, with_efforts: bool = False):
        """One synchronous update of every junction; returns the new state (``state`` is unchanged).

        ``target`` is in the loss's internal form (``loss.target(y, n_L)``). With ``with_efforts``
        the parameter-port efforts of ``state`` (the step-``n`` values the update read) are returned
        too, as ``(new_state, efforts)``, sharing the junction work of the step.
        """
        emitted_forward, emitted_backward, slopes = emitted_waves(
            self.net, self.loss, self.beta, state.forward, state.backward, target
        )
        if with_efforts:
            efforts = port_efforts(self.net, self.beta, state.forward, state.backward, slopes)
            return self.step_from(state, emitted_forward, emitted_backward), efforts
        return self.step_from(state, emitted_forward, emitted_backward)

    def step_from(self, state: WaveState, emitted_forward, emitted_backward) -> WaveState:
        """The Courant-weighted update of ``state`` toward what the junctions emitted."""
        nu = self.courant
        forward = [state.forward[0]] + [relax_toward(a, e, nu) for a, e in zip(state.forward[1:], emitted_forward)]
        backward = [relax_toward(s, e, nu) for s, e in zip(state.backward, emitted_backward)]
        return WaveState(forward, backward, state.time + 1)

    def efforts(self, state: WaveState) -> list[np.ndarray]:
        """Parameter-port efforts of ``state``, aligned with ``net.params`` (batch means)."""
        return port_efforts(self.net, self.beta, state.forward, state.backward)

    def relax(self, x, y, steps: int, state: WaveState | None = None, init: str = "zeros", rng=None,
              record: bool = False) -> WaveState:
        """Run ``steps`` wave steps on the batch ``(x, y)``.

        Parameters
        ----------
        x : ndarray, shape (batch, n_0)
        y : ndarray
            Targets (see :func:`substrate.backprop`).
        steps : int
            Number of steps (>= 0).
        state : WaveState, optional
            Waves to continue from (e.g. a previous result); otherwise ``init`` sets them.
        init : {"zeros", "random"}
        rng : int or numpy.random.Generator, optional
            Randomness for ``init="random"``.
        record : bool
            Record a :class:`RelaxationHistory` (costs a backprop reference and efforts every step).

        Returns
        -------
        WaveState
            The final waves with ``gradients`` set (and ``history`` if recorded).
        """
        x = self.net.check_input(x)
        steps = int(check_range("steps", steps, 0, None))
        target = self.loss.target(y, self.net.sizes[-1])
        if state is None:
            state = self.initial_state(x, init, rng)
        elif len(state.forward) != self.net.depth + 1 or state.forward[0].shape != x.shape:
            raise ConfigurationError("state does not match this network and batch")
        else:
            state = WaveState([x] + state.forward[1:], state.backward, state.time)
        recorder = _Recorder(self, x, target) if record else None
        if recorder:
            recorder.add(state)
        for _ in range(steps):
            state = self.step(state, target)
            if recorder:
                recorder.add(state)
        state.gradients = self.efforts(state)
        if recorder:
            state.history = recorder.history()
        return state


class _Recorder:
    def __init__(self, substrate, x, target):
        self.substrate = substrate
        self.reference = reference_waves(substrate.net, x, target, substrate.loss, substrate.beta)
        self.rows = []

    def add(self, state: WaveState) -> None:
        ref = self.reference

        def deviation(waves, fixed):
            return [np.max(np.abs(w - f)) for w, f in zip(waves, fixed)]

        def rms(waves):
            return [np.sqrt(np.mean(w * w)) for w in waves]

        self.rows.append(
            (
                deviation(state.forward, ref.forward),
                deviation(state.backward, ref.backward),
                rms(state.forward),
                rms(state.backward),
                gradient_error(self.substrate.efforts(state), ref.gradients),
            )
        )

    def history(self) -> RelaxationHistory:
        columns = [np.array(c) for c in zip(*self.rows)]
        return RelaxationHistory(*columns)
