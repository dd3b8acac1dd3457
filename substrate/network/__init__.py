"""The network description shared by every fidelity: layers, activations, losses, reference backprop."""

from .activations import ACTIVATIONS, Activation, get_activation
from .backprop import backprop, gradient_error, loss_value, reference_waves
from .layers import Dense, Residual
from .losses import LOSSES, Loss, get_loss
from .network import MLP, Network, residual_network
from .persist import load_network, network_run_id, save_network
from .scattering import WaveState, emitted_waves, port_efforts

__all__ = [
    "ACTIVATIONS", "Activation", "get_activation", "backprop", "gradient_error", "loss_value",
    "reference_waves", "Dense", "Residual", "LOSSES", "Loss", "get_loss", "MLP", "Network",
    "residual_network", "save_network", "load_network", "network_run_id", "WaveState", "emitted_waves", "port_efforts",
]
