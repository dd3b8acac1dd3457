"""Plot helpers return Figures and never touch pyplot or the user's matplotlib backend."""

import subprocess
import sys

import numpy as np
from matplotlib.figure import Figure

from substrate import MLP, Worldsheet
from substrate.plotting import plot_worldsheet, save_figure


def test_importing_and_plotting_keep_the_users_backend_and_pyplot_untouched():
    code = (
        "import sys, matplotlib\n"
        "matplotlib.use('svg')\n"
        "import numpy as np, substrate, circuits, substrate.plotting\n"
        "from substrate import MLP, Worldsheet\n"
        "net = MLP([2, 3, 2], seed=0)\n"
        "state = Worldsheet(net, 'mse').relax(np.ones((2, 2)), np.zeros((2, 2)), 6, record=True)\n"
        "figure = substrate.plotting.plot_worldsheet(state.history)\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules, type(figure).__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    # before: 'import substrate.plotting' called matplotlib.use('Agg') and imported pyplot
    assert result.stdout.split() == ["svg", "False", "Figure"]


def test_plot_worldsheet_returns_a_figure_with_labelled_axes(tmp_path):
    net = MLP([2, 4, 2], seed=0)
    state = Worldsheet(net, "mse").relax(np.ones((3, 2)), np.zeros((3, 2)), 6, record=True)
    figure = plot_worldsheet(state.history, tmp_path / "sheet.png", title="t")
    assert isinstance(figure, Figure) and len(figure.axes) == 5  # three panels and two colour bars
    assert all(axis.get_xlabel() and axis.get_ylabel() for axis in figure.axes[:3])
    assert (tmp_path / "sheet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert save_figure(figure, tmp_path / "again.svg").read_text().lstrip().startswith("<?xml")


def test_line_plot_helpers_return_figures(tmp_path):
    from substrate.lines import Line, Resistor, Step, Thevenin, plot_bounce_diagram, plot_field, simulate

    solution = simulate(Line.from_impedance(50.0, 1e-9), t_end=4e-9, cells=20, source=Thevenin(Step(1.0), 50.0),
                        load=Resistor(150.0))
    bounce = plot_bounce_diagram(solution, title="t")
    field = plot_field(solution, tmp_path / "field.png")
    assert isinstance(bounce, Figure) and isinstance(field, Figure)
    assert all(axis.get_xlabel() for axis in bounce.axes) and (tmp_path / "field.png").stat().st_size > 1000
