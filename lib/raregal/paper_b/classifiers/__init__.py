"""ResNet-18 binary morphology classifiers, with a focal-loss variant and synthetic augmentation.

Ma et al. (2025) §4.2–4.3: one binary classifier per feature (spiral, edge-on disk, bar, bulge;
D-ETG), BCE with Adam (lr 1e-4) and standard augmentation (random crop, rotation, flip). Two
alternatives to that baseline: focal loss (Lin et al. 2017) for the class imbalance, and the paper's
method — the same classifier with extra *synthetic* positives from the fine-tuned diffusion model in
its training set. Scores are purity / completeness / F1 of the positive class, at a threshold chosen
on the validation split (never the test split).

Modules, one concern each:

- ``model``: :class:`TrainSettings`, :class:`BinaryClassifier`, the loss, the standard augmentation.
- ``training``: training on *views* ``(V, N, ...)`` (view 0 un-augmented), threshold, metrics.
- ``arms``: baseline / focal / augmented on one split, and the summary over seeds.
- ``splits``: positives at a task's share, stratified train / validation / test.
- ``table2``: Table 2's published values, tasks and runner.
- ``featurizer``: images → views, per profile (``finetune`` on images, ``frozen`` SimCLR features).
- ``synthetic``: synthetic positives from notebook 08's diffusion pipeline.
- ``caches``: the catalog's views and the synthetic images kept for notebooks 11 and 12.

The names below are the package's public interface (notebooks 11 and 12 use them).
"""
from raregal.paper_b.classifiers.arms import (
    METHODS,
    QUANTITIES,
    run_arms,
    summarise_seeds,
    with_paper,
)
from raregal.paper_b.classifiers.featurizer import (
    Featurizer,
    embed_views,
    encoder_views,
    featurizer_from_config,
)
from raregal.paper_b.classifiers.model import (
    BinaryClassifier,
    TrainSettings,
    head_classifier,
    loss_value,
    make_augment,
    resnet_classifier,
)
from raregal.paper_b.classifiers.splits import n_positives_for, split_task
from raregal.paper_b.classifiers.synthetic import reference_images, synthetic_images, task_synthetic
from raregal.paper_b.classifiers.table2 import (
    TABLE2_FRACTIONS,
    TABLE2_TAGS,
    run_table2,
    table2_summary,
    task_labels,
    task_prompt,
)
from raregal.paper_b.classifiers.training import (
    TrainedArm,
    choose_threshold,
    fit_arm,
    positive_metrics,
    predict_proba,
    train_binary,
)

__all__ = ["METHODS", "QUANTITIES", "TABLE2_FRACTIONS", "TABLE2_TAGS", "BinaryClassifier",
           "Featurizer", "TrainSettings", "TrainedArm", "choose_threshold", "embed_views", "encoder_views",
           "featurizer_from_config", "fit_arm", "head_classifier", "loss_value", "make_augment",
           "n_positives_for", "positive_metrics", "predict_proba", "reference_images", "resnet_classifier",
           "run_arms", "run_table2", "split_task", "summarise_seeds", "synthetic_images", "table2_summary",
           "task_labels", "task_prompt", "task_synthetic", "train_binary", "with_paper"]
