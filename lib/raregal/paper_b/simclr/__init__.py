"""SimCLR galaxy embedding (Ma et al. 2025 Appendix A): the encoder f_φ behind realism and diversity.

A ResNet-18 trunk (:mod:`raregal.paper_b.backbone`, width a profile value) plus a two-layer projection
head is trained so two augmented views of one galaxy land together and views of different galaxies
apart (NT-Xent, τ = 0.5, Adam lr 1e-3). Augmentations run batched on tensors with kornia: random
resized crop, horizontal and vertical flips, rotation by any angle (a galaxy has no preferred
orientation) and colour jitter. :func:`embed` returns the pooled trunk features (not the projection),
as in SimCLR, for the metrics and the probes.

Modules, one concern each: ``augment`` (kornia views), ``model`` (settings, network, checkpoints,
input checks), ``train`` (NT-Xent, training and resume), ``base`` (the pretrained galaxy base
trunk that replaces ImageNet weights: its D-ETG-free sample, training, saving), ``embed`` (features, ``embeddings.npz``,
t-SNE), ``probe`` (linear probes, cosine separation). The names below are the package's public
interface (notebooks 09–11 and :mod:`raregal.paper_b.gen_metrics` use them).
"""
from raregal.paper_b.simclr.augment import galaxy_augment, make_augment
from raregal.paper_b.simclr.base import (
    TRUNK_DIR,
    pretrain_base,
    pretraining_exclusions,
    pretraining_sample,
)
from raregal.paper_b.simclr.embed import (
    EMBEDDINGS,
    embed,
    embed_stored,
    load_embeddings,
    save_embeddings,
    tsne_2d,
)
from raregal.paper_b.simclr.model import (
    CHECKPOINT,
    SimCLRModel,
    SimCLRSettings,
    load_simclr,
    prepare_images,
    save_checkpoint,
    untrained_encoder,
)
from raregal.paper_b.simclr.probe import (
    MIN_HELD_OUT,
    MORPHOLOGY_ORDER,
    PROBE_TASKS,
    cosine_separation,
    linear_probe,
    morphology_class,
    probe_labels,
    probe_table,
    training_sample,
    untrained_floor,
)
from raregal.paper_b.simclr.train import HISTORY, load_history, nt_xent, train_simclr

__all__ = ["untrained_floor", "CHECKPOINT", "EMBEDDINGS", "HISTORY", "MIN_HELD_OUT", "MORPHOLOGY_ORDER", "PROBE_TASKS", "TRUNK_DIR",
           "SimCLRModel", "SimCLRSettings", "cosine_separation", "embed", "embed_stored", "galaxy_augment",
           "linear_probe", "load_embeddings", "load_history", "load_simclr", "make_augment",
           "morphology_class", "nt_xent", "prepare_images", "pretrain_base", "pretraining_exclusions",
           "pretraining_sample", "probe_labels", "probe_table", "save_checkpoint",
           "save_embeddings", "train_simclr", "training_sample", "untrained_encoder", "tsne_2d"]
