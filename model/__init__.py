"""The digit-reading network in pure NumPy: the network, its data, training and checkpoints.

Nothing here imports Flask, Pillow or ``webapp``; the web app imports this.
"""

from pathlib import Path

from .checkpoint import CheckpointError, dumps, load, loads, save
from .geometry import deskew, inputs, prepare
from .network import Network

PRETRAINED = Path(__file__).with_name("pretrained.npz")

__all__ = ["CheckpointError", "Network", "PRETRAINED", "deskew", "dumps", "inputs", "load",
           "loads", "prepare", "save"]
