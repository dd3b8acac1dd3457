"""The in-place trainer (issue 14) and its divergence checks (issue 12).

- amortised checks still name the exact failing update (the updates since the last good check are
  re-run from a snapshot), checked against an independent per-update record;
- a diverging tanh network stops with a NumericalError naming the update, layer and quantity, and
  numpy's warnings do not flood the output;
- a real SIGINT arriving in the middle of an in-place update is held until the update is whole, so
  resuming stays bit-identical;
- the pipelined schedule allocates O(L) per update (its stubs are written in place).
"""

import math
import os
import signal
import tracemalloc
import warnings

import numpy as np
import pytest

import substrate
from substrate import datasets, ports
from substrate.errors import NumericalError
from substrate.learning import TrainingInterrupted
from substrate.learning.schedules import Pipelined
from substrate.learning.trainer import CHECK_EVERY
from substrate.network import get_loss


def _first_step_where(net_factory, data, predicate, **options):
    """Independent oracle: run with no limit, look at the parameters after every update."""
    found = []

    def watch(info):
        if not found and predicate(info.net.params):
            found.append(info.step)

    with np.errstate(all="ignore"):
        try:
            substrate.train(net_factory(), data, callbacks=[watch], parameter_limit=math.inf,
                            loss_growth=math.inf, **options)
        except NumericalError:
            pass
    return found[0]


def test_tanh_network_at_huge_learning_rate_stops_at_the_exact_update():
    # issue 12: lr 1e6 (Resistive(1e-6)) used to finish "successfully" with weights up to 1e22
    data = datasets.moons(n_samples=200, seed=2)
    options = dict(port=ports.Resistive(1e-6), epochs=3, batch_size=16, schedule="pipelined")
    make = lambda: substrate.MLP([2, 16, 16, 2], activation="tanh", seed=0)  # noqa: E731
    expected = _first_step_where(make, data, lambda params: max(np.max(np.abs(p)) for p in params) > 1e6,
                                 **options)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not one RuntimeWarning before the clear message
        with pytest.raises(NumericalError, match=rf"^step {expected}: diverging: parameter [Wb]\d \(layer \d\) "
                                                 r"left the plausible range, max \|[Wb]\d\| = \S+ > parameter_limit 1e\+06"):
            substrate.train(make(), data, **options)


def test_loss_growth_is_caught_at_the_recorded_update():
    # separated schedule, same network and port: the loss recorded at the end of epoch 1 (update 8)
    # is 2e5 while the weights are still below 1e6 (they pass it at update 17): the loss check stops it
    data = datasets.moons(n_samples=200, seed=2)
    net = substrate.MLP([2, 16, 16, 2], activation="tanh", seed=0)
    steps = 140 // 16
    with pytest.raises(NumericalError, match=rf"^step {steps}: diverging: the training loss \S+ exceeds 1000 x "
                                             r"max\(initial loss 0.77\d*, 1\) \(quantity: loss, layer 3\)"):
        substrate.train(net, data, port=ports.Resistive(1e-6), epochs=3, batch_size=16, schedule="separated")


@pytest.mark.parametrize("poisoned", [CHECK_EVERY + 5, 2 * CHECK_EVERY - 1, 2 * CHECK_EVERY])
def test_an_amortised_check_still_names_the_update_that_failed(poisoned):
    # 70 updates per epoch, so the checks fall every CHECK_EVERY updates inside the epoch
    data = datasets.moons(n_samples=200, seed=2)
    seen = []

    def poison(info):
        seen.append(info.step)
        if info.step == poisoned:
            info.net.layers[1].bias[3] = np.inf

    with pytest.raises(NumericalError, match=rf"^step {poisoned + 1}: non-finite parameter b2 \(layer 2\)"):
        substrate.train(substrate.MLP([2, 8, 8, 2], seed=0), data, port=ports.Inertial(40.0, 4.0),
                        schedule="pipelined", epochs=2, batch_size=2, callbacks=[poison])
    # the check after the poison fails; the updates since the last good check are re-run (callbacks
    # included, so the poison comes again) up to the failing one
    last_good = (poisoned // CHECK_EVERY) * CHECK_EVERY
    failing_check = last_good + CHECK_EVERY
    assert seen == list(range(1, failing_check)) + list(range(last_good + 1, poisoned + 1))


@pytest.mark.parametrize("port", [ports.Inertial(40.0, 4.0), ports.Inertial(40.0, 4.0, bounds=(-3.0, 3.0), levels=16),
                                  ports.Resistive(5.0, resistance_tolerance=0.2) + ports.Leak(1e-3)])
def test_the_re_run_after_a_failed_check_starts_from_the_exact_last_good_state(port):
    # the snapshot restores the port state, the device values and the waves bit for bit: the re-run
    # updates see exactly the parameters the first pass saw (quantised devices and drawn resistors too)
    data = datasets.moons(n_samples=200, seed=2)
    poisoned = CHECK_EVERY + 5
    first, again = {}, {}

    def watch(info):
        seen = again if info.step in first else first
        seen[info.step] = [p.copy() for p in info.net.params]
        if info.step == poisoned:
            info.net.layers[0].weight[0, 0] = np.nan

    with pytest.raises(NumericalError, match=r"^step \d+: non-finite"):
        substrate.train(substrate.MLP([2, 8, 8, 2], seed=0), data, port=port, schedule="pipelined", epochs=2,
                        batch_size=2, callbacks=[watch])
    assert sorted(again) == list(range(CHECK_EVERY + 1, poisoned + 1))
    for step, params in again.items():
        for got, want in zip(params, first[step]):
            np.testing.assert_array_equal(got, want)


class _SignalMidUpdate(ports.Resistive):
    """A resistive port that receives a real SIGINT half way through its update at one step."""

    def __init__(self, resistance, at_step):
        super().__init__(resistance)
        self.updates, self.sent = 0, False
        self.at_step = at_step

    def update(self, *args, **kwargs):
        self.updates += 1
        return super().update(*args, **kwargs)

    def _advance(self, arrays, drive, resistance):
        if self.updates == self.at_step and not self.sent:
            self.sent = True
            # the handler runs right here: the waves have advanced, the parameters not yet
            os.kill(os.getpid(), signal.SIGINT)
        super()._advance(arrays, drive, resistance)


def test_sigint_in_the_middle_of_an_update_never_half_applies_it(tmp_path):
    data = datasets.moons(n_samples=200, seed=2)
    options = dict(schedule="pipelined", epochs=3, batch_size=16, seed=3)
    whole = substrate.MLP([2, 8, 8, 2], seed=0)
    reference = substrate.train(whole, data, port=ports.Resistive(5.0), **options)

    port = _SignalMidUpdate(5.0, at_step=13)
    interrupted = substrate.MLP([2, 8, 8, 2], seed=0)
    with pytest.raises(TrainingInterrupted) as caught:
        substrate.train(interrupted, data, port=port, run_dir=tmp_path, **options)
    assert caught.value.step == 13  # the update ran to its end before the interrupt was acted on

    resumed = substrate.MLP([2, 8, 8, 2], seed=5)
    history = substrate.train(resumed, data, port=ports.Resistive(5.0), run_dir=tmp_path, resume=True, **options)
    for got, want in zip(resumed.params, whole.params):
        np.testing.assert_array_equal(got, want)
    assert history.train_loss == reference.train_loss


def _advance_peak(depth):
    net = substrate.MLP([32] * (depth + 1), seed=0)
    schedule = Pipelined(net, get_loss("mse"))
    state = schedule.initial(16)
    x, target = np.ones((16, 32)), np.zeros((16, 32))
    for _ in range(3):
        schedule.advance(state, x, target, np.arange(16))
    tracemalloc.start()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    schedule.advance(state, x, target, np.arange(16))
    peak = tracemalloc.get_traced_memory()[1] - before
    tracemalloc.stop()
    return peak


def test_pipelined_update_allocates_order_depth_not_depth_squared():
    # in place, an update allocates the emitted waves and the efforts: linear in L. Copying the
    # stubs (2(L-k+1) slots each) would make it quadratic: 4x from L = 16 to 32 instead of 2x.
    small, large = _advance_peak(16), _advance_peak(32)
    print(f"peak allocation per update: L=16 {small} B, L=32 {large} B, ratio {large / small:.2f}")
    assert large / small < 2.3  # 2 plus the constant part's share; quadratic growth would give ~4


def test_cli_train_of_a_diverging_network_fails_with_the_clear_message(tmp_path, capsys):
    # issue 12: `substrate train` of this config used to exit 0 with weights of 1e22
    from substrate.cli import main as cli

    config = tmp_path / "diverge.toml"
    config.write_text('[data]\nname = "moons"\nn_samples = 200\n\n[network]\nsizes = [2, 16, 16, 2]\n'
                      'activation = "tanh"\n\n[train]\nepochs = 3\nbatch_size = 16\nschedule = "pipelined"\n\n'
                      '[port]\nkind = "resistive"\nresistance = 1e-6\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = cli(["train", str(config), "--out", str(tmp_path / "run"), "--no-progress"])
    err = capsys.readouterr().err
    assert code != 0
    assert "diverging: parameter" in err and "left the plausible range" in err and "RuntimeWarning" not in err


def test_record_every_keeps_the_parameters_and_the_recorded_rows():
    # fewer history rows skip only the evaluation: the parameters are the same bits, and each kept
    # row equals the row of that epoch in a run recording every epoch (the same network evaluated
    # on the same data), except its wall time
    data = datasets.moons(n_samples=120, seed=3)
    options = dict(schedule="pipelined", port=ports.Inertial(40.0, 4.0), epochs=7, batch_size=8, seed=2)
    every, sparse = substrate.MLP([2, 8, 8, 2], seed=1), substrate.MLP([2, 8, 8, 2], seed=1)
    full = substrate.train(every, data, **options)
    seen = []
    fewer = substrate.train(sparse, data, record_every=3, callbacks=[lambda info: seen.append(info.step)], **options)
    for got, want in zip(sparse.params, every.params, strict=True):
        np.testing.assert_array_equal(got, want)
    assert fewer.epoch == [0, 3, 6, 7]  # every third epoch and the last
    assert seen == list(range(1, 7 * (len(data.x_train) // 8) + 1))  # the callbacks still see every update
    for key in ("step", "train_loss", "test_accuracy", "port_absorbed", "port_reflected", "gradient_error"):
        assert getattr(fewer, key) == [getattr(full, key)[e] for e in fewer.epoch], key


@pytest.mark.parametrize("value", [0, -2, 1.5, True])
def test_record_every_out_of_range_is_refused_before_any_work(value):
    net = substrate.MLP([2, 4, 2], seed=0)
    before = [p.copy() for p in net.params]
    with pytest.raises(substrate.ConfigurationError, match="record_every"):
        substrate.train(net, "moons", schedule="pipelined", epochs=2, batch_size=8, record_every=value)
    for got, want in zip(net.params, before):
        np.testing.assert_array_equal(got, want)


def test_record_every_is_refused_for_a_circuit_substrate():
    with pytest.raises(substrate.ConfigurationError, match="record_every = 2.*valid: 1"):
        substrate.train(substrate.MLP([2, 4, 2]), "moons", substrate="tline", epochs=2, record_every=2)
