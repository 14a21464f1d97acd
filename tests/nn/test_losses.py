import pytest
import torch

from napari_mcdet.nn import MCDetLoss, ScaleOutput, SegmentationLoss, mae_loss, soft_dice_loss


def test_soft_dice_hand_computed():
    p = torch.tensor([[[[0.5, 1.0], [0.0, 0.0]]]])
    g = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    # 1 - 2*(0.5+1) / (0.25+1 + 1+1) = 1 - 3/3.25
    assert soft_dice_loss(p, g, eps=0).item() == pytest.approx(1 - 3 / 3.25)


def test_mae_hand_computed():
    p = torch.tensor([[[[0.5, 1.0], [0.0, 0.25]]]])
    assert mae_loss(p, torch.zeros_like(p)).item() == pytest.approx(1.75 / 4)


def test_segmentation_loss_mixed_batch_picks_rule_per_sample():
    logits = torch.tensor([[[[0.0, 20.0], [-20.0, -20.0]]], [[[0.0, -20.0], [-20.0, -20.0]]]])
    target = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    got = SegmentationLoss(eps=0)(logits, target).item()
    dice = 1 - 2 * 1.5 / (0.25 + 1 + 2)  # sample 0: p ~ [0.5, 1, 0, 0]
    mae = 0.5 / 4                        # sample 1: p ~ [0.5, 0, 0, 0]
    assert got == pytest.approx((dice + mae) / 2, abs=1e-6)


def test_perfect_predictions_give_near_zero_loss():
    labels = torch.tensor([0, 1, 2])
    masks = torch.zeros(3, 2, 8, 8)
    masks[1, 0, 2:4, 2:4] = 1
    masks[2, 1, 5:7, 1:6] = 1
    seg = (masks * 2 - 1) * 30
    cls = torch.nn.functional.one_hot(labels, 3).float() * 30
    outs = [ScaleOutput(cls, seg)] * 5
    out = MCDetLoss()(outs, labels, masks)
    assert out["loss"].item() < 1e-4
    assert out["cls"].item() < 1e-4 and out["seg"].item() < 1e-4


def test_global_loss_is_mean_of_task_means():
    torch.manual_seed(0)
    labels = torch.tensor([0, 2])
    masks = torch.zeros(2, 2, 8, 8)
    masks[1, 1, 3:5, 3:5] = 1
    outs = [ScaleOutput(torch.randn(2, 3), torch.randn(2, 2, 8, 8)) for _ in range(3)]
    out = MCDetLoss()(outs, labels, masks)
    cls = torch.stack([torch.nn.functional.cross_entropy(o.class_logits, labels) for o in outs])
    seg = torch.stack([SegmentationLoss()(o.seg_logits, masks) for o in outs])
    assert out["loss"].item() == pytest.approx(((cls.mean() + seg.mean()) / 2).item(), rel=1e-6)
    mono = MCDetLoss()([ScaleOutput(o.class_logits, None) for o in outs], labels)
    assert mono["loss"].item() == pytest.approx(cls.mean().item(), rel=1e-6)
    assert torch.isnan(mono["seg"])
