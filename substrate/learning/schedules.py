"""Schedules: how wave steps and port updates interleave (physics.md, section 5).

A schedule owns the waves of the substrate between port updates. Its state is a flat dict of numpy
arrays (so that a checkpoint can store it exactly); :meth:`advance` is pure: it returns a new state
and the port efforts of one update, and leaves the old state untouched.

- :class:`Separated`: timescale separation. Every port update relaxes the substrate on one
  minibatch for ``K`` wave steps (``K = 2L`` at Courant number 1: the efforts are then exactly the
  backprop gradients of the minibatch), warm-started from the waves of the previous update.
- :class:`Pipelined` (unlocked): one wave step per port update, a new minibatch enters the input
  port at every step and the ports update at every step.

Pipelined conventions (measured exact by ``tests/test_train_pipelined.py``). Update ``n`` (from wave
state ``n`` to ``n + 1``, ``n = 0, 1, ...``):

- the input port puts minibatch ``x_n`` on link 0; junction ``k`` reads ``a_{k-1}`` and emits
  ``a_k``, so link ``k`` carries minibatch ``n - k`` at state ``n``;
- the loss port reads ``a_L`` (minibatch ``n - L``) and the target that travelled with it through a
  target FIFO of ``L + 1`` slots (written at ``n``, read ``L`` updates later), and writes ``s_L``;
- junction ``k`` reads ``s_k`` (minibatch ``m = n - 1 - 2L + k``) and pairs it with what it stashed
  in its **delay stub** when it emitted that minibatch's forward wave: its input ``a_{k-1}`` and slope
  ``f'_k(z_k)``. The stub is a ring buffer of ``2(L - k + 1)`` slots, read and then overwritten at
  slot ``n mod 2(L - k + 1)``: the stashed pair was written ``2(L - k + 1)`` updates earlier, i.e.
  ``2(L - k) + 1`` wave steps after the emitted wave left the junction (the issue's count) and
  ``2(L - k + 1)`` steps after the input wave was on link ``k - 1`` (physics.md's count). The pair
  serves both the backward transmission ``W_k^T (f' * s_k)`` and the port effort
  ``mean (f' * s_k) a_{k-1}^T``.
- Hence, with the weights held fixed, junction ``k``'s effort at update ``n`` is exactly the
  gradient of minibatch ``n - 1 - 2L + k`` for every ``n >= 2L`` (pipeline full).

``naive=True`` drops the stubs (the junction pairs ``s_k`` with its present input and slope): samples
are mixed, so the efforts are only approximate gradients.
"""

from __future__ import annotations

import numpy as np

from ..discrete.worldsheet import Worldsheet, relaxation_steps
from ..errors import ConfigurationError
from ..lumped import Dyadic
from ..network import Network, WaveState

__all__ = ["Separated", "Pipelined", "SCHEDULES"]


def _waves(state, depth):
    return ([state[f"forward_{k}"] for k in range(1, depth + 1)],
            [state[f"backward_{k}"] for k in range(depth + 1)])


class Separated:
    """Timescale-separated schedule: ``wave_steps`` wave steps per port update.

    The default is ``2L`` at Courant number 1 (exact) and otherwise
    :func:`~substrate.discrete.worldsheet.relaxation_steps` (enough for a 1e-10 decay).

    Parameters
    ----------
    net : Network
    loss : Loss
    substrate : {"worldsheet", "dyadic"}
        ``worldsheet``: level-0 wave steps at Courant number ``courant``. ``dyadic``: the level-1 RC
        relaxation integrated in continuous time (``solve_ivp``) for ``wave_steps`` time constants
        (default ``12 L``; the continuous-time error decays like an Erlang tail, so gradients are
        approximate).
    courant : float
        Courant number of the worldsheet (ignored by ``dyadic``).
    wave_steps : int, optional
        Relaxation length per update (wave steps, or time constants for ``dyadic``).
    beta : float
        Backward-wave scale.
    """

    name = "separated"

    def __init__(self, net: Network, loss, substrate: str = "worldsheet", courant: float = 1.0,
                 wave_steps: int | None = None, beta: float = 1.0):
        depth = net.depth
        self.net, self.loss, self.substrate, self.beta = net, loss, substrate, beta
        if substrate == "worldsheet":
            self.sheet = Worldsheet(net, loss, courant=courant, beta=beta)
            self.wave_steps = relaxation_steps(depth, courant) if wave_steps is None else int(wave_steps)
        elif substrate == "dyadic":
            self.rc = Dyadic(net, loss, beta=beta, tau=1.0)
            self.wave_steps = 12 * depth if wave_steps is None else int(wave_steps)
        else:
            raise ConfigurationError(f"substrate = {substrate!r} is unknown; valid: 'worldsheet', 'dyadic'")
        if self.wave_steps < 1:
            raise ConfigurationError(f"wave_steps = {wave_steps!r} must be >= 1")

    def initial(self, batch_size: int) -> dict:
        sizes = self.net.sizes
        state = {f"forward_{k}": np.zeros((batch_size, sizes[k])) for k in range(1, len(sizes))}
        state.update({f"backward_{k}": np.zeros((batch_size, sizes[k])) for k in range(len(sizes))})
        return state

    def advance(self, state: dict, x: np.ndarray, target: np.ndarray, indices: np.ndarray):
        """Relax on one minibatch; return ``(new_state, efforts, paired)``.

        ``paired`` lists, per layer, the dataset indices whose gradient the layer's effort is.
        """
        forward, backward = _waves(state, self.net.depth)
        warm = WaveState([x] + forward, backward, 0.0)
        if self.substrate == "worldsheet":
            result = self.sheet.relax(x, target, self.wave_steps, state=warm)
        else:
            result = self.rc.integrate(x, target, float(self.wave_steps), state=warm, rtol=1e-8, atol=1e-10).state
        new = {f"forward_{k}": a for k, a in enumerate(result.forward[1:], start=1)}
        new.update({f"backward_{k}": s for k, s in enumerate(result.backward)})
        return new, result.gradients, [indices] * self.net.depth


class Pipelined:
    """Unlocked schedule: one wave step per port update, a new minibatch every step (see module doc).

    Parameters
    ----------
    net : Network
    loss : Loss
    naive : bool
        Without delay stubs (approximate).
    beta : float
        Backward-wave scale.
    """

    name = "pipelined"

    def __init__(self, net: Network, loss, naive: bool = False, beta: float = 1.0):
        self.net, self.loss, self.naive, self.beta = net, loss, naive, beta
        if naive:
            self.name = "naive"

    def stub_slots(self, k: int) -> int:
        """Ring-buffer slots of junction ``k``'s delay stub: ``2(L - k + 1)``."""
        return 2 * (self.net.depth - k + 1)

    def initial(self, batch_size: int) -> dict:
        sizes, depth = self.net.sizes, self.net.depth
        state = {f"forward_{k}": np.zeros((batch_size, sizes[k])) for k in range(1, depth + 1)}
        state.update({f"backward_{k}": np.zeros((batch_size, sizes[k])) for k in range(depth + 1)})
        if not self.naive:
            for k in range(1, depth + 1):
                state[f"stub_input_{k}"] = np.zeros((self.stub_slots(k), batch_size, sizes[k - 1]))
                state[f"stub_slope_{k}"] = np.zeros((self.stub_slots(k), batch_size, sizes[k]))
        state["target_fifo"] = np.zeros((depth + 1, batch_size, sizes[-1]))
        state["index_ring"] = np.full((2 * depth + 2, batch_size), -1, dtype=np.int64)
        state["step"] = np.array(0, dtype=np.int64)
        return state

    def advance(self, state: dict, x: np.ndarray, target: np.ndarray, indices: np.ndarray):
        """One wave step with minibatch ``(x, target)`` entering; return ``(new_state, efforts, paired)``.

        ``paired[k-1]`` holds the dataset indices of the minibatch whose gradient junction ``k``'s
        effort is (``None`` while the pipeline is filling).
        """
        net, depth, beta = self.net, self.net.depth, self.beta
        n = int(state["step"])
        forward, backward = _waves(state, depth)
        inputs = [x] + forward[:-1]
        new = {}
        emitted, efforts, paired = [], [], []
        new_backward = [None] * (depth + 1)
        ring = state["index_ring"]
        for k, layer in enumerate(net.layers, start=1):
            value, slope = layer.transmit(inputs[k - 1])
            emitted.append(value)
            if self.naive:
                a_prev, stub_slope = inputs[k - 1], slope
            else:
                slot = n % self.stub_slots(k)
                # read from the previous state (never written: the step builds new buffers)
                a_prev, stub_slope = state[f"stub_input_{k}"][slot], state[f"stub_slope_{k}"][slot]
                stub_input, stub_slopes = state[f"stub_input_{k}"].copy(), state[f"stub_slope_{k}"].copy()
                stub_input[slot], stub_slopes[slot] = inputs[k - 1], slope
                new[f"stub_input_{k}"], new[f"stub_slope_{k}"] = stub_input, stub_slopes
            s_k = backward[k]
            new_backward[k - 1] = layer.reflect_back(stub_slope, s_k)
            efforts.extend(e / beta for e in layer.efforts(a_prev, stub_slope, s_k))
            m = n - 1 - 2 * depth + k
            paired.append(ring[m % len(ring)].copy() if m >= 0 else None)
        # the loss port: reads a_L (minibatch n - L) and the target that travelled with it
        fifo = state["target_fifo"].copy()
        if n >= depth:
            new_backward[depth] = beta * self.loss.output_gradient(forward[-1], fifo[(n - depth) % (depth + 1)])
        else:
            new_backward[depth] = np.zeros_like(backward[depth])
        fifo[n % (depth + 1)] = target
        ring = ring.copy()
        ring[n % len(ring)] = indices
        new.update({f"forward_{k}": a for k, a in enumerate(emitted, start=1)})
        new.update({f"backward_{k}": s for k, s in enumerate(new_backward)})
        new["target_fifo"], new["index_ring"], new["step"] = fifo, ring, np.array(n + 1, dtype=np.int64)
        return new, efforts, paired


SCHEDULES = ("separated", "pipelined", "naive")
