"""Two processes (``accelerate launch --multi_gpu --num_processes 2`` on the CPU, gloo) train the binary
classifiers of Ma et al. 2025 §4.2 along the loss curve of one process with the same global batch: a head on
frozen features (BCE and focal loss) and a whole ResNet-18 with kornia augmentation (BatchNorm).

Why a test: the loop used to be plain torch, so under ``accelerate launch`` every process trained its own
full copy (N times the work, nothing shared). Now every process draws the same global batch and views,
trains on its share with the share's loss weighted to the global mean, and BatchNorm uses the global batch
(core.training.sync_batchnorm).

Run as a script (``accelerate launch tests/test_classifiers_multiprocess.py OUT``) this file is the launched
training; under pytest it is the test that launches it.
"""
from __future__ import annotations

import sys

import numpy as np
import torch
from two_processes import end_processes, launch_two

from raregal.core.config import torch_threads
from raregal.paper_b import classifiers

# 37 samples in global batches of 16: 16, 16 and 5, which splits 3 / 2 (loss weights 1.2 and 0.8)
HEAD = {loss: classifiers.TrainSettings(loss=loss, lr=1e-2, epochs=3, batch_size=16, seed=1)
        for loss in ("bce", "focal")}
# 21 images in global batches of 8: 8, 8 and 5; BatchNorm statistics over the global batch. The paper's
# lr 1e-4: at 1e-2 Adam turns rounding into ±lr steps and one process on 2 threads already differs from
# one on 1 thread by 0.5 % in the second epoch's loss
FINETUNE = classifiers.TrainSettings(lr=1e-4, epochs=2, batch_size=8, seed=2)


def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.arange(37) % 3 == 0
    features = rng.normal(size=(1, 37, 6)).astype(np.float32)
    features[:, y, 0] += 1.0
    images = rng.random((1, 21, 3, 16, 16)).astype(np.float32)
    return {"features": features, "y": y, "images": images, "y_images": np.arange(21) % 2 == 0}


def train_all() -> dict[str, dict]:
    """Every classifier of the test: its loss history, weights and scores on the training inputs."""
    d, out = data(), {}
    for loss, settings in HEAD.items():
        torch.manual_seed(settings.seed)
        model = classifiers.head_classifier(6)
        out[loss] = {"history": classifiers.train_binary(model, d["features"], d["y"], settings)}
        out[loss]["p"] = classifiers.predict_proba(model, d["features"][0])
        out[loss]["weights"] = {k: v.cpu() for k, v in model.state_dict().items()}
    torch.manual_seed(FINETUNE.seed)
    model = classifiers.resnet_classifier(0.0625)
    hist = classifiers.train_binary(model, d["images"], d["y_images"], FINETUNE, classifiers.make_augment(16))
    out["finetune"] = {"history": hist, "p": classifiers.predict_proba(model, d["images"][0]),
                       "weights": {k: v.cpu() for k, v in model.state_dict().items()},
                       "params": [k for k, _ in model.named_parameters()]}
    return out


def test_two_processes_train_the_one_process_classifiers(tmp_path):
    with torch_threads(1):
        one = train_all()
    launch_two(__file__, tmp_path / "two.pt", timeout=180)
    two = torch.load(tmp_path / "two.pt", weights_only=False)

    # a head on features: the same samples in every step, two shares instead of one batch and a gloo
    # all-reduce of the gradients; measured ≤ 6e-8 relative on the losses, ≤ 3e-8 on the weights and
    # scores. Without the share weights (a plain mean per share) the losses move by 2e-3 to 1e-2
    for loss in HEAD:
        np.testing.assert_allclose(two[loss]["history"]["loss"], one[loss]["history"]["loss"], rtol=1e-5)
        for k, w in one[loss]["weights"].items():
            torch.testing.assert_close(two[loss]["weights"][k], w, rtol=0, atol=1e-5, msg=f"{loss} {k}")
        np.testing.assert_allclose(two[loss]["p"], one[loss]["p"], rtol=0, atol=1e-5)
    # a ResNet-18 with augmentation: the same views; BatchNorm sums in float64 over the processes and
    # convolutions over shares. Measured ≤ 4e-7 relative on the losses (2 threads vs 1: 3.5e-7), ≤ 1.2e-7
    # on the weights and 6e-8 on the scores; without the share weights the first loss moves by 1.2 %
    a, b = one["finetune"], two["finetune"]
    assert len(a["history"]["loss"]) == FINETUNE.epochs
    np.testing.assert_allclose(b["history"]["loss"], a["history"]["loss"], rtol=1e-5)
    for k, w in a["weights"].items():
        if k in a["params"]:
            torch.testing.assert_close(b["weights"][k], w, rtol=0, atol=1e-5, msg=k)
        else:  # running statistics, the standardisation and counts
            torch.testing.assert_close(b["weights"][k], w, rtol=1e-4, atol=1e-5, msg=k)
    np.testing.assert_allclose(b["p"], a["p"], rtol=0, atol=1e-5)

if __name__ == "__main__":  # the launched training (one per process); the main one saves
    result = train_all()
    from accelerate import PartialState

    if PartialState().is_main_process:
        torch.save(result, sys.argv[1])
    PartialState().wait_for_everyone()
    end_processes()
