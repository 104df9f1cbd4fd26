"""trainer=mps: composed here, and its float64-free paths run on the CPU (there is no Apple hardware here)."""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from hrm.modules import losses
from hrm.modules.losses import stablemax_cross_entropy
from hrm.modules.reasoning import ReasoningModule
from hrm.utils.mps import mps_fallbacks, widest_float
from tests.modules.test_reasoning import NET, OPTIMIZER, batch_of


class Float64Seen(TorchDispatchMode):
    """Records every operation, forward or backward, that makes a float64 tensor."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if any(isinstance(t, torch.Tensor) and t.dtype == torch.float64 for t in torch.utils._pytree.tree_leaves(out)):
            self.ops.append(str(func))
        return out


def test_an_mps_run_composes_without_compile_and_with_a_precision_mps_runs(make_config):
    cfg = make_config("experiment=sudoku6", "trainer=mps")
    assert (cfg.trainer.accelerator, cfg.trainer.devices) == ("mps", 1) and cfg.model.compile
    assert cfg.trainer.precision == ("bf16-mixed" if torch.backends.mps.is_available() else "32-true")
    assert mps_fallbacks(cfg) == ["trainer=mps: model.compile=false (torch.compile does not support MPS for "
                                  "these models)"]
    assert cfg.model.compile is False
    on_cpu = make_config("experiment=sudoku6")
    assert mps_fallbacks(on_cpu) == [] and on_cpu.model.compile


def test_mps_gets_float32_where_other_devices_get_float64():
    assert widest_float(torch.device("mps")) == torch.float32
    assert widest_float(torch.device("cpu")) == widest_float(torch.device("cuda")) == torch.float64


def test_the_float32_stablemax_loss_matches_float64():
    g = torch.Generator().manual_seed(0)
    logits = (4 * torch.randn(8, 30, 12, generator=g)).requires_grad_()
    labels = torch.randint(0, 12, (8, 30), generator=g)
    labels[:, :5] = -100
    exact, single = stablemax_cross_entropy(logits, labels), stablemax_cross_entropy(logits, labels, torch.float32)
    torch.testing.assert_close(single, exact, rtol=1e-5, atol=1e-6)
    (grad,) = torch.autograd.grad(single.sum(), logits)
    (exact_grad,) = torch.autograd.grad(exact.sum(), logits)
    torch.testing.assert_close(grad, exact_grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("as_on_mps", [False, True])
def test_a_training_step_as_on_mps_makes_no_float64_tensor(monkeypatch, as_on_mps):
    if as_on_mps:  # the device rule as on MPS: the rest of the step is the real one
        monkeypatch.setattr(losses, "widest_float", lambda device: torch.float32)
    module = ReasoningModule(net=NET, loss="stablemax", optimizer={**OPTIMIZER, "warmup_steps": 0})
    with Float64Seen() as seen:
        module.training_step(batch_of(), 0).backward()
    assert seen.ops == [] if as_on_mps else seen.ops  # the CPU's exact loss does use float64
