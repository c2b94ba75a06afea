"""Paper A's convolutional VAE: model (topology of the authors' code), eq. 2 / vanilla losses, training data,
training loop and its checkpoints."""
from raregal.paper_a.cvae.data import TrainData
from raregal.paper_a.cvae.loss import (
           PROPERTIES,
           CatalogError,
           Targets,
           physics_loss,
           property_targets,
           vanilla_loss,
)
from raregal.paper_a.cvae.model import Arch, CheckpointMismatchError, ConvVAE, load_model
from raregal.paper_a.cvae.train import TrainConfig, TrainingDiverged, TrainResult, read_history

__all__ = ["PROPERTIES", "Arch", "CatalogError", "CheckpointMismatchError", "ConvVAE", "Targets",
           "TrainConfig", "TrainData", "TrainResult", "TrainingDiverged", "load_model", "physics_loss",
           "property_targets", "read_history", "vanilla_loss"]
# the training function is raregal.paper_a.cvae.train.train (the submodule keeps its name)
