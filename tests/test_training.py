"""core.training: the process-scaled schedule, batch shares, seeding, BatchNorm over the global batch and
state saved with its hyper-parameters (single process here; tests/test_diffusion_multiprocess.py and
tests/test_cvae_multiprocess.py run two)."""
import copy
import json
import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from raregal.core import training


def lrs(num_processes: int, warmup: int, total: int, calls_per_step: int) -> list[float]:
    """The lr after each optimizer step when the scheduler is stepped ``calls_per_step`` times per step."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    sched = training.warmup_cosine_schedule(opt, warmup, total, num_processes)
    out = []
    for _ in range(total):
        opt.step()
        for _ in range(calls_per_step):
            sched.step()
        out.append(sched.get_last_lr()[0])
    return out


def test_scaled_schedule_gives_every_process_count_the_same_curve():
    one = lrs(1, warmup=3, total=10, calls_per_step=1)
    assert one[2] == pytest.approx(0.5) and one[-1] == pytest.approx(0.0, abs=1e-15)
    assert all(a >= b for a, b in zip(one[2:], one[3:]))  # cosine decay after the warm-up
    for n in (2, 3):  # accelerate steps a prepared scheduler n times per optimizer step
        np.testing.assert_allclose(lrs(n, 3, 10, calls_per_step=n), one, rtol=1e-12, atol=1e-15)
    unscaled = lrs(1, 3, 10, calls_per_step=2)  # the bug: the schedule ends halfway, then rises again
    assert unscaled[4] == pytest.approx(0.0, abs=1e-15) and unscaled[-1] > 0.1
    assert lrs(1, warmup=50, total=4, calls_per_step=1)[-1] == pytest.approx(0.0, abs=1e-15)  # warm-up capped
    with pytest.raises(ValueError, match="num_processes"):
        training.warmup_cosine_schedule(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1), 1, 4, 0)


def test_shards_of_a_global_batch_are_disjoint_and_cover_it():
    batch = np.arange(12)
    shards = [training.shard_of_global_batch(batch, SimpleNamespace(num_processes=3, process_index=r))
              for r in range(3)]
    assert [list(s) for s in shards] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    tensor = torch.arange(8).reshape(4, 2)
    assert torch.equal(training.shard_of_global_batch(tensor, SimpleNamespace(num_processes=2, process_index=1)),
                       tensor[2:])
    assert training.shard_of_global_batch(["a", "b"], SimpleNamespace(num_processes=1, process_index=0)) == ["a", "b"]
    with pytest.raises(ValueError, match="does not split evenly over 4 processes"):
        training.shard_of_global_batch(batch[:10], SimpleNamespace(num_processes=4, process_index=0))


def test_seed_everything_seeds_python_numpy_and_torch():
    training.seed_everything(7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    training.seed_everything(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    training.seed_everything(8)
    assert torch.rand(1).item() != first[2]


def test_state_is_saved_with_its_hyperparameters_and_restored(tmp_path):
    from accelerate import Accelerator

    acc = Accelerator(cpu=True)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = training.warmup_cosine_schedule(opt, 1, 5, acc.num_processes)
    model, opt, sched = acc.prepare(model, opt, sched)
    model(torch.ones(4, 3)).sum().backward()
    opt.step()
    sched.step()
    saved_weights = [p.detach().clone() for p in model.parameters()]
    folder = training.save_state(acc, tmp_path / "checkpoint-1", {"lr": 0.1, "note": "two-step test"})
    assert training.is_complete_state(folder) and not list(tmp_path.glob(".*tmp"))
    training.save_state(acc, folder, {"lr": 0.1, "note": "written again"})  # replaces, never merges
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    sched.step()
    hyper = training.load_state(acc, folder)
    assert hyper == {"lr": 0.1, "note": "written again", "num_processes": 1}
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), saved_weights))
    assert sched.scheduler.last_epoch == 1  # the schedule is back at step 1 too
    record = json.loads((folder / training.HYPERPARAMETERS_FILE).read_text())
    (folder / training.HYPERPARAMETERS_FILE).write_text(json.dumps({**record, "num_processes": 2}))
    with pytest.raises(ValueError, match="written by 2 processes"):
        training.load_state(acc, folder)
    with pytest.raises(FileNotFoundError, match="not a complete training state"):
        training.load_state(acc, tmp_path / "missing")
    assert training.mean_over_processes(acc, torch.tensor(1.25)) == 1.25  # one process: the value itself


def test_share_of_an_uneven_global_batch_weights_the_loss_to_the_global_mean():
    batch = torch.arange(5)
    shares = [training.share_of_global_batch(batch, SimpleNamespace(num_processes=2, process_index=r))
              for r in range(2)]
    assert [s.tolist() for s, _ in shares] == [[0, 1, 2], [3, 4]]
    assert [w for _, w in shares] == [pytest.approx(1.2), pytest.approx(0.8)]
    losses = torch.tensor([3.0, 1.0, 2.0, 7.0, 5.0])  # DDP averages the ranks' weighted share means
    ddp_mean = np.mean([w * float(losses[s].mean()) for s, w in shares])
    assert ddp_mean == pytest.approx(float(losses.mean()))
    whole, weight = training.share_of_global_batch(batch, SimpleNamespace(num_processes=1, process_index=0))
    assert torch.equal(whole, batch) and weight == 1.0
    with pytest.raises(ValueError, match="leaves a process without data"):
        training.share_of_global_batch(batch[:2], SimpleNamespace(num_processes=3, process_index=0))


@pytest.fixture
def world_of_one():
    """A real gloo process group of one rank (its all-reduce is the identity), torn down afterwards."""
    import torch.distributed as dist

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield dist
    dist.destroy_process_group()


def test_cross_process_batchnorm_is_batchnorm_of_the_global_batch(world_of_one, monkeypatch):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4, momentum=0.3),
                              torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(100, 1))
    reference = copy.deepcopy(net)
    params = list(net.parameters())
    assert training.sync_batchnorm(net) is net and isinstance(net[1], training.CrossProcessBatchNorm)
    assert all(a is b for a, b in zip(net.parameters(), params))  # an optimizer built before still works
    assert list(net.state_dict()) == list(reference.state_dict())  # checkpoints load into either
    x = torch.randn(6, 3, 7, 7).contiguous(memory_format=torch.channels_last)
    monkeypatch.setattr(world_of_one, "get_world_size", lambda *a: 2)  # take the all-reduce branch
    out, expected = net(x), reference(x)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    out.pow(2).sum().backward()
    expected.pow(2).sum().backward()
    for (name, p), q in zip(net.named_parameters(), reference.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=name)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(net[1], name), getattr(reference[1], name), msg=name)
    net.eval()
    reference.eval()
    torch.testing.assert_close(net(x), reference(x))  # eval: the running statistics, as BatchNorm2d


def test_a_rank_without_saved_rng_state_gets_the_main_process_state(tmp_path):
    from accelerate import Accelerator

    acc = Accelerator(cpu=True)
    training.seed_everything(11)
    folder = training.save_state(acc, tmp_path / "state", {"note": "rng"})
    after_save = (random.random(), np.random.rand(), torch.rand(3))
    training._restore_rng_of_main_process(folder, process_index=1)  # rank 1: no random_states_1.pkl
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert again[:2] == after_save[:2] and torch.equal(again[2], after_save[2])
    torch.rand(1)
    training._restore_rng_of_main_process(folder, process_index=0)  # its own file: accelerate's business
    assert not torch.equal(torch.rand(3), after_save[2])
