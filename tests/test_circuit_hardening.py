"""Issue 12 in the circuit layer: the cross-entropy loss port at large logits, and verify on a frozen
transmission-line trainer compares the waves."""

from __future__ import annotations

import numpy as np
import pytest

from circuits import export as exporting
from circuits import expressions as ex
from circuits import ngspice as runner
from circuits.netlist import DC, BSource, Netlist, Resistor, VoltageSource
from substrate import MLP, save_network
from substrate.network import get_loss


@pytest.mark.parametrize("logits", [(250.0, 245.0), (-300.0, 0.0, 400.0), (1.0, 2.0, 3.0)])
def test_cross_entropy_port_is_exact_at_large_logits(ngspice, logits):
    """ngspice clamps exp near 228: without the max subtraction (250, 245) reflected [0.5, -0.5]."""
    n = len(logits)
    target = np.eye(n)[1]
    outputs = [f"v(o{i})" for i in range(n)]
    elements = [VoltageSource(f"V{i}", f"o{i}", "0", DC(v)) for i, v in enumerate(logits)]
    elements += [BSource(f"B{i}", f"g{i}", "0", "V", ex.loss_gradient("cross_entropy", outputs, target, i)) for i in range(n)]
    elements += [Resistor(f"R{i}", f"g{i}", "0", 1.0) for i in range(n)]
    result = runner.run(Netlist("softmax", elements, options=(("reltol", 1e-9),)))
    measured = np.array([result.v(f"g{i}")[0] for i in range(n)])
    expected = get_loss("cross_entropy").output_gradient(np.array([logits]), target[None])[0]  # numpy, max-subtracted
    # ngspice's arithmetic is double precision; exp and the division lose a few ulp
    np.testing.assert_allclose(measured, expected, rtol=1e-12, atol=1e-14)
    if logits == (250.0, 245.0):
        assert measured[0] == pytest.approx(0.9933071490757153, rel=1e-12)


XOR_X = np.array([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


def test_verify_compares_the_waves_of_a_frozen_tline_trainer(ngspice, tmp_path, monkeypatch):
    """Frozen parameters have flat trajectories: verify compared nothing and printed PASS."""
    save_network(MLP([2, 3, 1], "tanh", seed=3), tmp_path / "params.npz")
    written = exporting.export(tmp_path, "tline-trainer", x=XOR_X, y=XOR_Y)
    report = exporting.verify(written["netlist"])
    assert report["passed"] and report["error"] is not None and report["error"] <= 1e-6 and report["tolerance"] == 1e-6
    # a native simulation whose waves are off by 1e-3 must now fail
    from circuits import native

    real = native.simulate_tline_trainer

    def shifted(*args, **kwargs):
        trajectory = real(*args, **kwargs)
        trajectory.s[0] = trajectory.s[0] + 1e-3
        return trajectory

    monkeypatch.setattr(native, "simulate_tline_trainer", shifted)
    report = exporting.verify(written["netlist"])
    assert not report["passed"] and report["error"] == pytest.approx(1e-3, rel=1e-3)
