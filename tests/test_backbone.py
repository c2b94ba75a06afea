"""The shared ResNet-18 builder: topology, width multiplier, pooled features, refusals."""
import pytest
import torch
from torch import nn

from raregal.core.config import torch_threads
from raregal.paper_b.backbone import (
    RESNET18_DEPTHS,
    TRUNK_WEIGHTS,
    build_resnet18,
    resnet18_config,
    save_trunk,
    trunk_fingerprint,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


def test_full_width_is_resnet18_shape():
    cfg = resnet18_config(1.0)
    assert cfg.depths == [2, 2, 2, 2] and cfg.layer_type == "basic"
    assert cfg.hidden_sizes == [64, 128, 256, 512] and cfg.embedding_size == 64
    net = build_resnet18(1.0)
    n_params = sum(p.numel() for p in net.parameters())
    assert 11.1e6 < n_params < 11.3e6  # torchvision's ResNet-18 trunk without fc: 11.18 M
    n_basic_blocks = sum(1 for m in net.modules() if type(m).__name__ == "ResNetBasicLayer")
    assert n_basic_blocks == sum(RESNET18_DEPTHS)


def test_width_scales_channels_same_topology():
    torch.manual_seed(0)
    narrow = build_resnet18(0.25)
    assert narrow.feature_dim == 128
    assert resnet18_config(0.25).hidden_sizes == [16, 32, 64, 128]
    assert resnet18_config(0.01).hidden_sizes == [4, 4, 4, 5]  # never below 4 channels
    feats = narrow(torch.rand(3, 3, 40, 40))
    assert feats.shape == (3, 128) and torch.isfinite(feats).all()
    assert (feats >= 0).all()  # pooled after ReLU


def test_features_are_trainable_end_to_end():
    torch.manual_seed(0)
    net = build_resnet18(0.125)
    head = nn.Linear(net.feature_dim, 1)
    x = torch.rand(4, 3, 32, 32)
    head(net(x)).sum().backward()
    assert net.resnet.embedder.embedder.convolution.weight.grad.abs().sum() > 0


def test_refusals():
    net = build_resnet18(0.125)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        net(torch.rand(2, 32, 32, 3))
    with pytest.raises(ValueError, match="width must be > 0"):
        build_resnet18(0)
    with pytest.raises(ValueError, match="only for width=1.0"):  # refused before any download
        build_resnet18(0.5, pretrained="microsoft/resnet-18")


def test_pretrained_from_local_folder_round_trip(tmp_path):
    torch.manual_seed(0)
    net = build_resnet18(1.0)
    net.resnet.save_pretrained(tmp_path / "r18")
    again = build_resnet18(1.0, pretrained=tmp_path / "r18").eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net.eval()(x), again(x), atol=1e-6)


def test_save_trunk_round_trip_at_a_narrow_width(tmp_path):
    """A trunk saved at width 0.25 loads back at width 0.25 with identical features (eval mode:
    BatchNorm running statistics travel too), and the about record sits beside it."""
    torch.manual_seed(0)
    net = build_resnet18(0.25)
    net.train()
    net(torch.rand(8, 3, 24, 24))  # move the BatchNorm running statistics off their defaults
    folder = save_trunk(net, tmp_path / "base", about={"n_images": 8})
    assert (folder / TRUNK_WEIGHTS).is_file() and (folder / "about.json").is_file()
    again = build_resnet18(0.25, pretrained=folder).eval()
    x = torch.rand(3, 3, 48, 48)
    with torch.no_grad():
        assert torch.equal(net.eval()(x), again(x))
    assert trunk_fingerprint(folder) == trunk_fingerprint(save_trunk(again, tmp_path / "copy"))
    other = build_resnet18(0.25)
    save_trunk(other, folder)  # replaces the trunk there
    assert trunk_fingerprint(folder) != trunk_fingerprint(tmp_path / "copy")


def test_pretrained_trunk_of_another_width_or_without_weights_is_refused(tmp_path):
    save_trunk(build_resnet18(0.25), tmp_path / "quarter")
    with pytest.raises(ValueError, match=r"quarter.*hidden sizes \[16, 32, 64, 128\].*width=0.5 needs "
                                         r"stem 32 and hidden sizes \[32, 64, 128, 256\]"):
        build_resnet18(0.5, pretrained=tmp_path / "quarter")
    (tmp_path / "quarter" / TRUNK_WEIGHTS).unlink()
    with pytest.raises(FileNotFoundError, match=r"quarter.*no weights \(model.safetensors\).*config.json"):
        build_resnet18(0.25, pretrained=tmp_path / "quarter")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty.*no config.json"):
        build_resnet18(0.25, pretrained=tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        build_resnet18(0.25, pretrained=tmp_path / "nowhere")
    with pytest.raises(TypeError, match="ResNet18Features"):
        save_trunk(nn.Linear(2, 2), tmp_path / "linear")


def test_pretrained_that_is_not_resnet18_is_refused(tmp_path):
    from transformers import ResNetConfig, ResNetModel

    ResNetModel(ResNetConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 8, 8, 8], embedding_size=8,
                             layer_type="basic")).save_pretrained(tmp_path / "r10")
    with pytest.raises(ValueError, match="not a ResNet-18"):
        build_resnet18(1.0, pretrained=tmp_path / "r10")


def test_torch_threads_restores_the_count():
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    with torch_threads(None):
        assert torch.get_num_threads() == before
    assert torch.get_num_threads() == before
