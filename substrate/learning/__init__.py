"""Learning on the substrate: schedules, the training loop, checkpoints, configs and run directories.

See :func:`train` and ``docs/learning.md``.
"""

from .history import History
from .schedules import Pipelined, Separated
from .trainer import StepInfo, TrainingInterrupted, train

__all__ = ["train", "History", "StepInfo", "TrainingInterrupted", "Separated", "Pipelined"]
