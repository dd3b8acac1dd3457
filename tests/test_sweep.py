"""Sweeps (issue 11): reproducibility across executors, robustness, resume, validation, yield."""

import copy
import csv
import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

import substrate
from substrate.cli import main as cli
from substrate.errors import ConfigurationError
from substrate.learning.config import build
from substrate.sweeps import Dask, Runner, load_sweep, read_results
from substrate.sweeps.figures import wilson_interval, yield_table

from conftest import load_example

# a small moons network: 2 grid points x 8 Monte Carlo samples (acceptance 1)
MOONS = {
    "data": {"name": "moons", "n_samples": 200, "seed": 3},
    "network": {"sizes": [2, 8, 2]},
    "port": {"kind": "resistive", "resistance": 4.0},
    "train": {"schedule": "separated", "epochs": 3, "batch_size": 16},
    "sweep": {
        "samples": 8, "seed": 11, "threshold": 0.85,
        "grid": {"port.resistance_tolerance": [0.0, 0.5]},
        "random": {"port.resistance": {"distribution": "normal", "mean": 4.0, "std": 0.4}},
    },
}


def _without_wall_time(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0].endswith(",wall_time")  # the last column, so it can be cut off
    return "\n".join(line.rsplit(",", 1)[0] for line in text.splitlines()) + "\n"


def test_results_are_byte_identical_on_every_executor_and_worker_count(tmp_path):
    from dask.distributed import LocalCluster

    # dask twice: a LocalCluster of 1 worker started here and reached by its scheduler address
    # (Client(address).get_executor()), and the executor's own LocalCluster of 2 workers
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        runs = [("serial", None), ("local", 1), ("local", 2), (Dask(cluster.scheduler_address), None), ("dask", 2)]
        texts = {}
        for executor, workers in runs:
            name = executor if isinstance(executor, str) else "dask-address"
            out = tmp_path / f"{name}-{workers}"
            summary = substrate.sweep(MOONS, out, executor=executor, workers=workers, progress=False)
            assert summary["status"] == {"ok": 16} and summary["ran"] == list(range(16))
            texts[(name, workers)] = _without_wall_time(out / "results.csv")
            assert {"results.csv", "sweep.json", "accuracy.png", "yield.png"} <= {p.name for p in out.iterdir()}
            assert json.loads((out / "sweep.json").read_text())["runs"][-1]["executor"] == (
                executor if isinstance(executor, str) else "dask")
    assert set(texts) == {("serial", None), ("local", 1), ("local", 2), ("dask-address", None), ("dask", 2)}
    reference = texts[("serial", None)]
    for key, text in texts.items():
        assert text == reference, f"{key} differs from serial"
    # the Monte Carlo draws act: the tasks of one grid point do not all train alike
    _, rows = read_results(tmp_path / "serial-None" / "results.csv")
    assert len({rows[i]["train_loss"] for i in range(8)}) == 8
    assert len({rows[i]["port.resistance"] for i in range(16)}) == 16


def test_a_row_is_reproduced_by_training_its_config_directly(tmp_path):
    """Independent of the sweep machinery: base config + the row's values, trained by substrate.train."""
    substrate.sweep(MOONS, tmp_path, executor="serial", progress=False)
    _, rows = read_results(tmp_path / "results.csv")
    spec = load_sweep(MOONS)
    for index in (5, 12):
        row = rows[index]
        config = copy.deepcopy(spec.base)
        config["port"].update(resistance_tolerance=float(row["port.resistance_tolerance"]),
                              resistance=float(row["port.resistance"]), seed=int(row["port.seed"]))
        config["train"]["seed"] = int(row["train.seed"])
        net, data, port, options = build(config)
        history = substrate.train(net, data, port=port, **options)
        assert repr(history.final["train_loss"]) == row["train_loss"]  # bit for bit
        assert repr(history.final["test_accuracy"]) == row["test_accuracy"]


def test_task_seeds_are_the_seedsequence_children_in_task_order():
    spec = load_sweep(MOONS)
    children = np.random.SeedSequence(11).spawn(16)
    assert [task.seed for task in spec.tasks] == [int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children]
    assert [(task.point, task.sample) for task in spec.tasks] == [(p, s) for p in range(2) for s in range(8)]


ROBUST = {
    "data": {"name": "teacher", "n_samples": 200},
    "network": {"sizes": [4, 4, 2]},
    "port": {"kind": "resistive", "resistance": 4.0},
    "train": {"schedule": "separated", "epochs": 2, "batch_size": 16},
    # 1e-15 ohm = learning rate 1e15: the weights overflow by step 14 (NumericalError); 20000 epochs
    # (about 80 s of training) far exceed the 1.5 s limit
    "sweep": {"samples": 2, "time_limit": 1.5,
              "grid": {"port.resistance": [4.0, 1e-15], "train.epochs": [2, 20000]}},
}


def test_failed_and_timed_out_tasks_are_rows_and_resume_runs_only_the_missing(tmp_path):
    summary = substrate.sweep(ROBUST, tmp_path, executor="local", workers=2, progress=False)
    _, rows = read_results(tmp_path / "results.csv")
    status = {index: row["status"] for index, row in rows.items()}
    # grid order: (4, 2), (4, 20000), (1e-4, 2), (1e-4, 20000); 2 samples each
    assert status == {0: "ok", 1: "ok", 2: "timeout", 3: "timeout", 4: "failed", 5: "failed", 6: "failed", 7: "failed"}
    assert "time limit of 1.5 s" in rows[2]["error"]
    assert rows[4]["error"].startswith("NumericalError: step")
    assert rows[0]["test_loss"] != "" and rows[4]["test_loss"] == ""
    assert summary["status"] == {"ok": 2, "timeout": 2, "failed": 4}
    before = _without_wall_time(tmp_path / "results.csv")

    # drop three rows, as if the sweep had been interrupted; --resume runs exactly those
    text = (tmp_path / "results.csv").read_text().splitlines()
    kept = [line for line in text if line.split(",", 1)[0] not in ("1", "4", "7")]
    (tmp_path / "results.csv").write_text("\n".join(kept) + "\n")
    assert cli(["sweep", str(_write(tmp_path / "robust.json", ROBUST)), "--out", str(tmp_path), "--resume",
                "--executor", "serial", "--no-progress"]) == 0
    runs = json.loads((tmp_path / "sweep.json").read_text())["runs"]
    assert [run["ran"] for run in runs] == [8, 3]
    assert _without_wall_time(tmp_path / "results.csv") == before
    # nothing missing: a second resume runs nothing
    assert substrate.sweep(ROBUST, tmp_path, executor="serial", resume=True, progress=False)["ran"] == []
    # a different sweep is not resumed into this directory, and results are not overwritten silently
    other = copy.deepcopy(ROBUST)
    other["sweep"]["samples"] = 3
    with pytest.raises(ConfigurationError, match="differs from the one recorded"):
        substrate.sweep(other, tmp_path, executor="serial", resume=True, progress=False)
    with pytest.raises(ConfigurationError, match="already holds a sweep"):
        substrate.sweep(ROBUST, tmp_path, executor="serial", progress=False)


def _write(path: Path, table: dict) -> Path:
    path.write_text(json.dumps(table))
    return path


class _ChunkRecorder(Runner):
    """A batched engine stand-in: records the chunks it is handed, answers with the task seed."""

    def __init__(self):
        self.chunks = []

    def run(self, tasks, time_limit):
        self.chunks.append([(task.point, task.index) for task in tasks])
        return [{"status": "ok", "error": "", "train_loss": float(task.seed % 1000)} for task in tasks]


def test_chunks_hold_consecutive_tasks_of_one_grid_point_and_do_not_change_results(tmp_path):
    table = copy.deepcopy(MOONS)
    table["sweep"].update(samples=5, chunk=3)
    recorder = _ChunkRecorder()
    substrate.sweep(table, tmp_path / "a", executor="serial", runner=recorder, progress=False)
    assert [[index for _, index in chunk] for chunk in recorder.chunks] == [[0, 1, 2], [3, 4], [5, 6, 7], [8, 9]]
    assert all(len({point for point, _ in chunk}) == 1 for chunk in recorder.chunks)
    _, rows = read_results(tmp_path / "a" / "results.csv")  # each batched answer lands on its own task's row
    assert all(float(row["train_loss"]) == int(row["seed"]) % 1000 for row in rows.values()) and len(rows) == 10
    # real training: chunk 3 and chunk 1 give the same table
    substrate.sweep(table, tmp_path / "b", executor="serial", progress=False)
    table["sweep"]["chunk"] = 1
    substrate.sweep(table, tmp_path / "c", executor="local", workers=2, progress=False)
    assert _without_wall_time(tmp_path / "b" / "results.csv") == _without_wall_time(tmp_path / "c" / "results.csv")


@pytest.mark.parametrize("edit, message", [
    (lambda s: s["sweep"].update(sampels=3), r"sweep\.sampels is not a valid key; valid: \["),
    (lambda s: s["sweep"]["grid"].update({"train.epohcs": [1]}), r"train\.epohcs is not a valid key"),
    (lambda s: s["sweep"]["grid"].update({"trian.epochs": [1]}), r"'trian\.epochs' is not a dotted config key"),
    (lambda s: s["sweep"]["random"]["port.resistance"].update(std=-0.5),
     r"sweep\.random\.'port\.resistance'\.std = -0\.5 is outside the valid range \[0\.0, inf\]"),
    (lambda s: s["sweep"]["random"].update({"port.mass": {"distribution": "uniform", "low": 2.0, "high": 1.0}}),
     r"sweep\.random\.'port\.mass'\.high = 1\.0 is outside the valid range \[2\.0, inf\]"),
    (lambda s: s["sweep"]["grid"].update({"train.batch_size": []}),
     r"sweep\.grid\.'train\.batch_size' is empty; give a list of at least 1 value"),
    (lambda s: s["sweep"].update(samples=0), r"sweep\.samples = 0 is outside the valid range \[1, inf\]"),
    (lambda s: s["sweep"]["grid"].update({"port.resistance_tolerance": [0.0, 1.5]}),
     r"task 8 .*port\.resistance_tolerance = 1\.5 is outside the valid range \[0\.0, 1\.0\)"),
    (lambda s: s["sweep"]["grid"].update({"train.batch_size": [16, 500]}),
     r"train\.batch_size = 500 is outside the valid range \[1, 140\]"),
])
def test_bad_sweep_files_are_refused_before_any_task_starts(tmp_path, capsys, edit, message):
    table = copy.deepcopy(MOONS)
    edit(table)
    with pytest.raises(ConfigurationError, match=message):
        load_sweep(table)
    out = tmp_path / "out"
    assert cli(["sweep", str(_write(tmp_path / "bad.json", table)), "--out", str(out), "--executor", "serial"]) == 2
    assert "substrate sweep: error:" in capsys.readouterr().err
    assert not out.exists()  # nothing was written


def test_yield_table_against_a_direct_count_and_the_wilson_interval(tmp_path):
    substrate.sweep(MOONS, tmp_path, executor="serial", progress=False)
    with open(tmp_path / "results.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    table = yield_table(load_sweep(MOONS), read_results(tmp_path / "results.csv")[1])
    for point, entry in enumerate(table):
        mine = [row for row in rows if row["point"] == str(point)]
        reached = sum(row["status"] == "ok" and float(row["test_accuracy"]) >= 0.85 for row in mine)
        assert (entry["trials"], entry["reached"]) == (8, reached)
    # textbook value: 8 of 10, 95 % Wilson interval (0.490, 0.943)
    low, high = wilson_interval(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.49, 0.943)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_toml_sweep_file_and_cli_report(tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    path.write_text('[data]\nname = "xor"\nn_samples = 120\n[network]\nsizes = [2, 4, 2]\n[train]\nepochs = 1\n'
                    'schedule = "separated"\n[sweep]\nsamples = 3\n[sweep.grid]\n"train.batch_size" = [8, 16]\n')
    assert cli(["sweep", str(path), "--out", str(tmp_path / "o"), "--executor", "serial", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "swept 6 tasks (6 ok)" in out and "yield.png" in out
    header = (tmp_path / "o" / "results.csv").read_text().splitlines()[0]
    # the inertial xor preset port draws resistors, so port.seed is seeded too
    assert header.startswith("task,point,sample,seed,train.batch_size,train.seed,port.seed,status,error,")
    with pytest.raises(ConfigurationError, match="workers = 0"):
        substrate.sweep(path, tmp_path / "p", executor="local", workers=0)
    with pytest.raises(ConfigurationError, match="scheduler address is for the dask executor"):
        substrate.sweep(path, tmp_path / "p", executor="local", scheduler="tcp://127.0.0.1:1")


def test_example_sweep_tolerance(tmp_path):
    """examples/sweep_tolerance.py with 4 instead of 200 trainers per tolerance."""
    result = load_example("sweep_tolerance").main(out=str(tmp_path), samples=4, executor="serial", progress=False)
    assert result["tasks"] == 20 and result["status"] == {"ok": 20}
    assert [entry["port.resistance_tolerance"] for entry in result["yield"]] == [0.0, 0.2, 0.4, 0.6, 0.8]
    assert all(entry["trials"] == 4 and 0 <= entry["reached"] <= 4 for entry in result["yield"])
    # the same rows as the file's own seeds give: the first trainer of the ideal point, re-trained alone
    _, rows = read_results(tmp_path / "results.csv")
    table = tomllib.loads(load_example("sweep_tolerance").SWEEP.read_text())
    table["sweep"]["samples"] = 4
    spec = load_sweep(table)
    net, data, port, options = build(spec.tasks[0].config)
    assert repr(substrate.train(net, data, port=port, **options).final["test_loss"]) == rows[0]["test_loss"]


class _BlasProbe(Runner):
    """Reports, as ``steps``, the most threads any BLAS/OpenMP pool has inside the worker running the chunk."""

    def run(self, tasks, time_limit):
        from threadpoolctl import threadpool_info

        threads = max(pool["num_threads"] for pool in threadpool_info())
        return [{"status": "ok", "error": "", "steps": threads} for _ in tasks]


@pytest.mark.parametrize("executor", ["serial", "local", "dask"])
def test_tasks_run_with_one_blas_thread_on_every_executor(tmp_path, executor):
    summary = substrate.sweep(MOONS, tmp_path, executor=executor, workers=1 if executor == "serial" else 2,
                              runner=_BlasProbe(), progress=False)
    assert summary["status"] == {"ok": 16}
    _, rows = read_results(tmp_path / "results.csv")
    assert {row["steps"] for row in rows.values()} == {"1"}


class _DiesOnTask(Runner):
    """Kills its worker process when handed task ``victim`` (as a crash in compiled code would)."""

    def __init__(self, victim):
        self.victim = victim

    def run(self, tasks, time_limit):
        import os

        if any(task.index == self.victim for task in tasks):
            os._exit(3)
        return [{"status": "ok", "error": "", "steps": task.index} for task in tasks]


def test_a_dying_worker_leaves_its_tasks_missing_for_resume(tmp_path):
    summary = substrate.sweep(MOONS, tmp_path, executor="local", workers=2, runner=_DiesOnTask(9), progress=False)
    assert 9 in summary["lost"] and sorted(summary["lost"] + summary["ran"]) == list(range(16))
    _, rows = read_results(tmp_path / "results.csv")
    assert set(rows) == set(summary["ran"]) and all(row["status"] == "ok" for row in rows.values())
    resumed = substrate.sweep(MOONS, tmp_path, executor="serial", resume=True, runner=_DiesOnTask(-1), progress=False)
    assert resumed["ran"] == summary["lost"] and resumed["lost"] == [] and resumed["status"] == {"ok": 16}


def test_cli_set_overrides_the_sweep_file(tmp_path, capsys):
    """--set KEY=VALUE on `substrate sweep` changes the file's tables before validation (as on train and line)."""
    path = tmp_path / "sweep.toml"
    path.write_text('[data]\nname = "xor"\nn_samples = 120\n[network]\nsizes = [2, 4, 2]\n[train]\nepochs = 1\n'
                    'schedule = "separated"\n[sweep]\nsamples = 3\n[sweep.grid]\n"train.batch_size" = [8, 16]\n')
    out = tmp_path / "o"
    assert cli(["sweep", str(path), "--out", str(out), "--executor", "serial", "--no-progress",
                "--set", "sweep.samples=2", "--set", "train.epochs=2"]) == 0
    assert "swept 4 tasks (4 ok)" in capsys.readouterr().out  # 2 grid points x 2 samples, not 2 x 3
    _, rows = read_results(out / "results.csv")
    assert {int(row["steps"]) for row in rows.values() if row["train.batch_size"] == "16"} == {2 * (84 // 16)}
    # an override is validated like the file: an unknown key is refused before any task, naming it
    assert cli(["sweep", str(path), "--out", str(tmp_path / "p"), "--executor", "serial", "--no-progress",
                "--set", "train.epochz=2"]) == 2
    assert "epochz" in capsys.readouterr().err and not (tmp_path / "p" / "results.csv").exists()


def test_resume_and_force_keep_the_sweep_directory_consistent(tmp_path, capsys):
    """A corrupt sweep.json or a non-UTF-8 results.csv on --resume is one clear error, not a traceback;
    --force leaves no figure of the earlier sweep beside the new results."""
    path = tmp_path / "sweep.toml"
    path.write_text('[data]\nname = "xor"\nn_samples = 120\n[network]\nsizes = [2, 4, 2]\n[train]\nepochs = 1\n'
                    'schedule = "separated"\n[sweep]\nsamples = 2\n[sweep.grid]\n"train.batch_size" = [8, 16]\n')
    out = tmp_path / "o"
    run = ["sweep", str(path), "--out", str(out), "--executor", "serial", "--no-progress"]
    assert cli(run) == 0 and (out / "yield.png").exists()
    results = (out / "results.csv").read_bytes()
    (out / "results.csv").write_bytes(b"\xff\xfe" + results)
    assert cli(run + ["--resume"]) == 2
    assert "results.csv" in capsys.readouterr().err
    (out / "results.csv").write_bytes(results)
    (out / "sweep.json").write_text("{not json")
    assert cli(run + ["--resume"]) == 2
    assert "sweep.json is not valid JSON" in capsys.readouterr().err
    # a sweep without a grid draws no yield curve: --force must not leave the old one behind
    path.write_text('[data]\nname = "xor"\nn_samples = 120\n[network]\nsizes = [2, 4, 2]\n[train]\nepochs = 1\n'
                    'schedule = "separated"\n[sweep]\nsamples = 2\n')
    assert cli(run + ["--force"]) == 0
    assert not (out / "yield.png").exists() and (out / "accuracy.png").exists()
    (tmp_path / "afile").write_text("x")
    assert cli(["sweep", str(path), "--out", str(tmp_path / "afile"), "--executor", "serial", "--no-progress"]) == 2
    assert "afile" in capsys.readouterr().err


def test_energy_column_is_the_energy_absorbed_over_every_update():
    """energy = sum over every update of dtau e.v; for a resistive port v = e / R, so it must equal
    sum_n (dtau / R) |e_n|^2, computed here from the efforts alone (agreement to rounding: 1e-12 relative)."""
    from substrate.sweeps import TrainRunner

    table = {"data": {"name": "xor", "n_samples": 120}, "network": {"sizes": [2, 8, 2]},
             "port": {"kind": "resistive", "resistance": 2.0},
             "train": {"epochs": 3, "batch_size": 16, "schedule": "separated", "gradient_check": False},
             "sweep": {"samples": 1}}
    task = load_sweep(table).tasks[0]
    row = TrainRunner().run([task], time_limit=60.0)[0]
    assert row["status"] == "ok"
    net, data, port, options = build(task.config)
    squares = []
    substrate.train(net, data, port=port, callbacks=[lambda info: squares.append(
        sum(float(np.vdot(e, e)) for e in info.efforts))], **options)
    expected = port.dtau / 2.0 * sum(squares)
    assert len(squares) == row["steps"] == 3 * (84 // 16)
    assert row["energy"] == pytest.approx(expected, rel=1e-12)


def test_tline_batch_runner_runs_a_chunk_as_circuit_instances(tmp_path):
    """TLineBatchRunner: one compiled call per chunk; rows do not depend on the chunking, and each
    instance carries its own drawn resistors (checked against the single-circuit engine fed with the
    rates computed here from the task's port)."""
    from circuits.junctions import Layout
    from circuits.native import simulate_tline_trainer
    from substrate.sweeps import TLineBatchRunner

    table = {"data": {"name": "xor", "n_samples": 60}, "network": {"sizes": [2, 4, 2]},
             "port": {"kind": "resistive", "resistance": 2.0},
             "train": {"epochs": 5, "batch_size": 42, "schedule": "separated", "gradient_check": False},
             "sweep": {"samples": 4, "seed": 3, "grid": {"port.resistance_tolerance": [0.0, 0.5]}}}
    texts = []
    for chunk in (1, 4):
        table["sweep"]["chunk"] = chunk
        out = tmp_path / f"chunk{chunk}"
        summary = substrate.sweep(copy.deepcopy(table), out, executor="serial", progress=False,
                                  runner=TLineBatchRunner())
        assert summary["status"] == {"ok": 8}
        texts.append(_without_wall_time(out / "results.csv"))
    assert texts[0] == texts[1]
    _, rows = read_results(tmp_path / "chunk4" / "results.csv")
    ideal = {rows[i]["train_loss"] for i in range(4)}
    assert len(ideal) == 1  # no tolerance: the four instances are the same circuit
    assert len({rows[i]["train_loss"] for i in range(4, 8)}) == 4  # each toleranced instance differs
    task = load_sweep(table).tasks[5]
    net, data, port, options = build(task.config)
    rates = [port.dtau / r / 1e-9 for r in port.draw_resistances(net.params)]
    rate_net = copy.deepcopy(net)
    for p, r in zip(rate_net.params, rates):
        p[...] = r
    alone = simulate_tline_trainer(net, data.x_train, data.y_train, loss="cross_entropy", td=1e-9, t_stop=5e-9,
                                   learning_rate=Layout(net).pack([rate_net]))
    for p, trajectory in zip(net.params, alone.params):
        p[...] = trajectory[-1]
    loss = substrate.network.get_loss("cross_entropy")
    expected = loss(net.forward(data.x_train), loss.target(data.y_train, 2))
    assert float(rows[5]["train_loss"]) == pytest.approx(expected, rel=1e-12)  # same engine, same arithmetic


class _AllPass(Runner):
    def run(self, tasks, time_limit):
        return [{"status": "ok", "error": "", "test_accuracy": 1.0} for _ in tasks]


def test_yield_figure_with_every_task_passing(tmp_path):
    """Yield 1 sits on its Wilson bound (500 of 500: the upper bound rounds to 1 - 1.1e-16); the figure
    drew a negative error bar and matplotlib refused it."""
    table = {"data": {"name": "xor", "n_samples": 60}, "network": {"sizes": [2, 4, 2]},
             "sweep": {"samples": 500, "chunk": 500, "threshold": 0.95, "grid": {"train.batch_size": [8, 16]}}}
    summary = substrate.sweep(table, tmp_path, executor="serial", progress=False, runner=_AllPass())
    assert summary["status"] == {"ok": 1000} and (tmp_path / "yield.png").stat().st_size > 0


def test_sweep_file_names_its_runner(tmp_path, capsys):
    """[sweep] runner = "tline-batch" gives the CLI the batched circuit runner; an unknown name is refused."""
    path = tmp_path / "sweep.toml"
    body = ('[data]\nname = "xor"\nn_samples = 60\n[network]\nsizes = [2, 4, 2]\n[port]\nkind = "resistive"\n'
            'resistance = 2.0\n[train]\nepochs = 2\nbatch_size = 42\nschedule = "separated"\ngradient_check = false\n'
            '[sweep]\nsamples = 4\nchunk = 4\nrunner = "{}"\n')
    path.write_text(body.format("tline-batch"))
    assert cli(["sweep", str(path), "--out", str(tmp_path / "o"), "--executor", "serial", "--no-progress"]) == 0
    _, rows = read_results(tmp_path / "o" / "results.csv")
    assert all(row["energy"] == "" and row["steps"] == "2" for row in rows.values())  # circuit rows: delays, no energy
    path.write_text(body.format("spice"))
    assert cli(["sweep", str(path), "--out", str(tmp_path / "p"), "--executor", "serial", "--no-progress"]) == 2
    assert "sweep.runner = 'spice' is unknown; valid: ['tline-batch', 'train']" in capsys.readouterr().err
