"""Schedules: how wave steps and port updates interleave (physics.md, section 5).

A schedule owns the waves of the substrate between port updates. Its state is a flat dict of numpy
arrays (so that a checkpoint can store it exactly). :meth:`advance` updates it **in place** (wave
entries are replaced by the arrays the junctions emit; the pipeline's ring buffers are written slot
by slot) and returns the port efforts of one update; :meth:`paired` says which minibatch each
layer's effort belongs to. :meth:`snapshot` keeps what the next updates overwrite, so that
:meth:`restore` can bring the state back exactly (the trainer uses this to name the first failing
update after an amortised check).

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

    def advance(self, state: dict, x: np.ndarray, target: np.ndarray, indices: np.ndarray, out=None) -> list:
        """Relax on one minibatch; update ``state`` in place and return the efforts (written into the
        arrays ``out``, aligned with the parameters, when given)."""
        forward, backward = _waves(state, self.net.depth)
        warm = WaveState([x] + forward, backward, 0.0)
        if self.substrate == "worldsheet":
            result = self.sheet.relax(x, target, self.wave_steps, state=warm)
        else:
            result = self.rc.integrate(x, target, float(self.wave_steps), state=warm, rtol=1e-8, atol=1e-10).state
        state.update({f"forward_{k}": a for k, a in enumerate(result.forward[1:], start=1)})
        state.update({f"backward_{k}": s for k, s in enumerate(result.backward)})
        if out is None:
            return result.gradients
        for buffer, gradient in zip(out, result.gradients):
            np.copyto(buffer, gradient)
        return out

    def paired(self, state: dict, indices: np.ndarray) -> list:
        """Per layer, the dataset indices whose gradient the last update's effort is: ``indices``."""
        return [indices] * self.net.depth

    def snapshot(self, state: dict, updates: int) -> dict:
        """What :meth:`restore` needs to undo up to ``updates`` advances (the waves are replaced, never
        written, so references suffice)."""
        return dict(state)

    def restore(self, state: dict, saved: dict) -> None:
        """Bring ``state`` back to the :meth:`snapshot`."""
        state.clear()
        state.update(saved)


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
    reflect_input : bool
        Emit the backward wave into the input port (``s_0 = W_1^T (f'_1 * s_1)``, the state's
        ``backward_0``). It feeds no parameter update, so a trainer that never reads it passes
        ``False``: the state then has no ``backward_0`` and the first junction computes its efforts
        alone (one matrix product fewer per update; the efforts are the same bits).
    """

    name = "pipelined"

    def __init__(self, net: Network, loss, naive: bool = False, beta: float = 1.0, reflect_input: bool = True):
        self.net, self.loss, self.naive, self.beta = net, loss, naive, beta
        self.reflect_input = reflect_input
        if naive:
            self.name = "naive"
        depth = net.depth
        self._keys = ([f"forward_{k}" for k in range(1, depth + 1)], [f"backward_{k}" for k in range(depth + 1)],
                      [f"stub_input_{k}" for k in range(1, depth + 1)], [f"stub_slope_{k}" for k in range(1, depth + 1)])
        # junctions with a linear (identity) activation: f' = 1, so f' * s is s itself (1.0 * s is s
        # bit for bit): no slope is computed, stashed or multiplied
        self._linear = [layer.activation.name == "identity" for layer in net.layers]

    def stub_slots(self, k: int) -> int:
        """Ring-buffer slots of junction ``k``'s delay stub: ``2(L - k + 1)``."""
        return 2 * (self.net.depth - k + 1)

    def initial(self, batch_size: int) -> dict:
        sizes, depth = self.net.sizes, self.net.depth
        state = {f"forward_{k}": np.zeros((batch_size, sizes[k])) for k in range(1, depth + 1)}
        state.update({f"backward_{k}": np.zeros((batch_size, sizes[k]))
                      for k in range(0 if self.reflect_input else 1, depth + 1)})
        if not self.naive:
            for k in range(1, depth + 1):
                state[f"stub_input_{k}"] = np.zeros((self.stub_slots(k), batch_size, sizes[k - 1]))
                if not self._linear[k - 1]:
                    state[f"stub_slope_{k}"] = np.zeros((self.stub_slots(k), batch_size, sizes[k]))
        state["target_fifo"] = np.zeros((depth + 1, batch_size, sizes[-1]))
        state["index_ring"] = np.full((2 * depth + 2, batch_size), -1, dtype=np.int64)
        state["step"] = np.array(0, dtype=np.int64)
        return state

    def advance(self, state: dict, x: np.ndarray, target: np.ndarray, indices: np.ndarray, out=None) -> list:
        """One wave step with minibatch ``(x, target)`` entering; update ``state`` in place, return the efforts.

        Per junction the stub slot is read (the stashed pair serves the backward transmission and
        the effort) before the junction's present input and slope are written into it, so the
        update allocates only the emitted waves (and the efforts, unless ``out`` holds arrays
        aligned with the parameters to write them into): O(L) per step.
        """
        depth, beta, naive = self.net.depth, self.beta, self.naive
        n = int(state["step"])
        forward_keys, backward_keys, input_keys, slope_keys = self._keys
        efforts = []
        a_in = x
        for k, (layer, linear) in enumerate(zip(self.net.layers, self._linear), start=1):
            value, slope = (layer.output(a_in), None) if linear else layer.transmit(a_in)
            if naive:
                a_prev, stub_slope = a_in, slope
            else:
                stub_input = state[input_keys[k - 1]]
                slot = n % len(stub_input)
                a_prev, stub_slope = stub_input[slot], None
                if not linear:
                    stub_slopes = state[slope_keys[k - 1]]
                    stub_slope = stub_slopes[slot]
            # s_k is read here, before junction k + 1 replaces it (s_0 is only written)
            s_k, efforts_out = state[backward_keys[k]], None if out is None else out[2 * k - 2:2 * k]
            if k > 1 or self.reflect_input:
                state[backward_keys[k - 1]], layer_efforts = layer.backward(a_prev, stub_slope, s_k, efforts_out)
            else:  # nothing reads s_0: the efforts alone
                layer_efforts = layer.efforts(a_prev, stub_slope, s_k, efforts_out)
            if beta != 1.0:  # e / 1.0 is e: the division only where it changes something
                for e in layer_efforts:
                    e /= beta
            efforts.extend(layer_efforts)
            if not naive:  # the slot has been read: stash the present pair in it
                stub_input[slot] = a_in
                if not linear:
                    stub_slopes[slot] = slope
            # the wave link k carried (the next junction's input, and after the last the loss port's)
            a_in = state[forward_keys[k - 1]]
            state[forward_keys[k - 1]] = value
        # the loss port: reads a_L (minibatch n - L) and the target that travelled with it
        fifo = state["target_fifo"]
        if n >= depth:
            gradient = self.loss.output_gradient(a_in, fifo[(n - depth) % (depth + 1)])
            state[backward_keys[depth]] = gradient if beta == 1.0 else beta * gradient
        else:
            state[backward_keys[depth]] = np.zeros_like(a_in)
        fifo[n % (depth + 1)] = target
        ring = state["index_ring"]
        ring[n % len(ring)] = indices
        state["step"][()] = n + 1
        return efforts

    def paired(self, state: dict, indices: np.ndarray | None = None) -> list:
        """Per layer, the dataset indices of the minibatch whose gradient the last update's effort is.

        ``paired(state)[k-1]`` is the minibatch that entered ``2L + 1 - k`` updates before the last
        one (``None`` while the pipeline is filling).
        """
        depth, ring = self.net.depth, state["index_ring"]
        n = int(state["step"]) - 1
        return [ring[m % len(ring)].copy() if m >= 0 else None
                for m in (n - 1 - 2 * depth + k for k in range(1, depth + 1))]

    def snapshot(self, state: dict, updates: int) -> dict:
        """What :meth:`restore` needs to undo up to ``updates`` advances.

        Waves are replaced, never written (references suffice); of each delay stub only the
        ``updates`` slots the next advances overwrite are copied, so a snapshot costs O(L updates),
        not the O(L^2) of the whole stubs.
        """
        saved = {key: value for key, value in state.items() if not key.startswith("stub_")}
        for key in ("target_fifo", "index_ring", "step"):
            saved[key] = state[key].copy()
        n = int(state["step"])
        for key, stub in state.items():
            if key.startswith("stub_"):
                if updates >= len(stub):  # every slot: the whole stub
                    saved[key] = (slice(None), stub.copy())
                else:
                    slots = (n + np.arange(updates)) % len(stub)
                    saved[key] = (slots, stub[slots])
        return saved

    def restore(self, state: dict, saved: dict) -> None:
        """Bring ``state`` back to the :meth:`snapshot` (stubs and rings in place)."""
        for key, value in saved.items():
            if key.startswith("stub_"):
                slots, values = value
                state[key][slots] = values
            elif key in ("target_fifo", "index_ring", "step"):
                np.copyto(state[key], value)
            else:
                state[key] = value


SCHEDULES = ("separated", "pipelined", "naive")
