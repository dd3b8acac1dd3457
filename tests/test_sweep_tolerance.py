"""Per-component port-resistor tolerance (issue 11): drawn rates, validation, checkpoints."""

import numpy as np
import pytest
from scipy import stats

import substrate
from substrate import datasets, ports
from substrate.errors import ConfigurationError
from substrate.learning import TrainingInterrupted
from substrate.learning.config import build, resolve

SHAPES = [(100, 100), (100,), (100, 100)]  # 20100 resistors: a sharp test of the distribution


def _rates(port, shapes=SHAPES):
    """The learning rate each parameter sees, measured from one update under unit efforts."""
    params = [np.zeros(shape) for shape in shapes]
    state, _ = port.step(port.initial_state(params), [np.ones(shape) for shape in shapes])
    return np.concatenate([-p.ravel() for p in port.parameters(state)])  # theta_1 = -(dtau / R_i) * 1


def test_drawn_rates_follow_the_stated_uniform_resistor_distribution():
    resistance, tolerance, dtau = 4.0, 0.2, 0.5
    rates = _rates(ports.Resistive(resistance, resistance_tolerance=tolerance, seed=3, dtau=dtau))
    resistors = dtau / rates
    n = len(resistors)
    # stated: R_i = R (1 + t u_i), u_i iid uniform on [-1, 1]
    u = (resistors / resistance - 1.0) / tolerance
    assert u.min() >= -1.0 and u.max() <= 1.0
    # Kolmogorov-Smirnov against U(-1, 1): a normal law of the same variance fails it at n = 20100;
    # the draws are seeded, so this is deterministic (p = 0.72 measured; a normal law: 1e-64)
    assert stats.kstest(u, stats.uniform(loc=-1.0, scale=2.0).cdf).pvalue > 0.01
    # moments within 4 standard errors: mean 0 (se sqrt(1/3 / n)), variance 1/3 (se sqrt((1/5 - 1/9) / n))
    assert abs(u.mean()) < 4 * np.sqrt(1 / 3 / n)
    assert abs(u.var() - 1 / 3) < 4 * np.sqrt((1 / 5 - 1 / 9) / n)
    # independent: the lag-1 correlation of neighbouring parameters is 0 within 4 / sqrt(n)
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 4 / np.sqrt(n)
    # reproducible from the seed, and a different seed draws different resistors
    np.testing.assert_array_equal(rates, _rates(ports.Resistive(resistance, resistance_tolerance=tolerance, seed=3,
                                                                dtau=dtau)))
    assert not np.array_equal(rates, _rates(ports.Resistive(resistance, resistance_tolerance=tolerance, seed=4,
                                                            dtau=dtau)))


def test_zero_tolerance_is_the_ideal_port_and_inertial_ports_draw_series_resistors():
    ideal = _rates(ports.Resistive(4.0, dtau=0.5), [(7, 3)])
    np.testing.assert_array_equal(ideal, np.full(21, 0.125))  # exactly dtau / R
    np.testing.assert_array_equal(ideal, _rates(ports.Resistive(4.0, dtau=0.5, resistance_tolerance=0.0), [(7, 3)]))
    # inertial: after two updates under unit effort from rest, theta_2 = -(lr (1 + mu_i) + lr), mu_i = 1 - dtau R_i / M
    port = ports.Inertial(40.0, 4.0, resistance_tolerance=0.5, seed=1)
    params = [np.zeros((50, 40))]
    state = port.initial_state(params)
    for _ in range(2):
        state, _ = port.step(state, [np.ones((50, 40))])
    resistors = state["resistance"][0]
    lr = port.learning_rate
    np.testing.assert_allclose(port.parameters(state)[0], -(lr * (2 - resistors / 40.0) + lr), rtol=1e-13)
    assert resistors.min() >= 2.0 and resistors.max() <= 6.0 and resistors.std() > 0.5


@pytest.mark.parametrize("value", [-0.01, 1.0, 3.0])
def test_tolerance_outside_zero_one_is_refused_naming_the_key(value):
    with pytest.raises(ConfigurationError, match=r"port\.resistance_tolerance = .* outside the valid range \[0\.0, 1\.0\)"):
        resolve({"data": {"name": "xor"}, "port": {"resistance_tolerance": value}})


def test_config_keys_reach_the_port_and_bad_seed_or_momentum_are_refused():
    config = resolve({"data": {"name": "xor"}, "port": {"resistance_tolerance": 0.05, "seed": 11}})
    port = build(config)[2]
    assert port.resistance_tolerance == 0.05 and port.seed == 11
    assert port.to_config()["resistance_tolerance"] == 0.05
    with pytest.raises(ConfigurationError, match=r"port\.seed = -1"):
        resolve({"data": {"name": "xor"}, "port": {"resistance_tolerance": 0.05, "seed": -1}})
    with pytest.raises(ConfigurationError, match="dtau \\* resistance \\* \\(1 \\+ resistance_tolerance\\) / mass"):
        ports.Inertial(4.0, 4.0, resistance_tolerance=0.1)  # mu = 0 nominal: a larger resistor would make mu < 0
    with pytest.raises(ConfigurationError, match="not a parameter of a gauss_newton port"):
        ports.from_config({"kind": "gauss_newton", "damping": 1.0, "resistance_tolerance": 0.1})


def test_resume_with_drawn_resistors_equals_the_uninterrupted_run(tmp_path):
    data = datasets.xor(n_samples=200, seed=1)
    port = ports.Inertial(10.0, 1.0, resistance_tolerance=0.3, seed=5)
    options = dict(port=port, schedule="separated", epochs=3, batch_size=16, seed=2)
    whole = substrate.MLP([2, 8, 2], seed=0)
    substrate.train(whole, data, **options)

    def stop(info):
        if info.step == 13:
            raise KeyboardInterrupt

    interrupted = substrate.MLP([2, 8, 2], seed=0)
    with pytest.raises(TrainingInterrupted):
        substrate.train(interrupted, data, callbacks=[stop], run_dir=tmp_path, **options)
    resumed = substrate.MLP([2, 8, 2], seed=0)
    substrate.train(resumed, data, run_dir=tmp_path, resume=True, **options)
    for got, want in zip(resumed.params, whole.params):
        np.testing.assert_array_equal(got, want)
    ideal = substrate.MLP([2, 8, 2], seed=0)
    substrate.train(ideal, data, **{**options, "port": ports.Inertial(10.0, 1.0)})
    assert not np.array_equal(ideal.params[0], whole.params[0])  # the drawn resistors did act
