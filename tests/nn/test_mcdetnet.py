import numpy as np
import pytest
import torch

from napari_mcdet.nn import MCDetConfig, MCDetLoss, MCDetNet, count_parameters

VARIANTS = ["MuTMuS", "MoTMuS", "MuTMoS", "MoTMoS", "UNet3+"]


def test_default_parameter_band():
    n = count_parameters(MCDetNet())
    assert 1_200_000 <= n <= 1_600_000, n


@pytest.mark.parametrize("variant", VARIANTS)
def test_output_shapes(variant):
    cfg = MCDetConfig.variant(variant)
    net = MCDetNet(cfg).eval()
    x = torch.randn(2, 1, 48, 64)
    with torch.no_grad():
        outs = net(x)
    assert len(outs) == (5 if cfg.multiscale else 1)
    for o in outs:
        if cfg.classification:
            assert o.class_logits.shape == (2, 3)
        else:
            assert o.class_logits is None
        if cfg.segmentation:
            assert o.seg_logits.shape == (2, 2, 48, 64)
        else:
            assert o.seg_logits is None


def test_filters_are_a_parameter():
    small = MCDetNet(MCDetConfig(filters=(4, 8, 16, 32, 64)))
    assert count_parameters(small) < count_parameters(MCDetNet()) / 4


def test_invalid_size_names_nearest_valid():
    net = MCDetNet().eval()
    with pytest.raises(ValueError, match="nearest valid size is 96 x 64"):
        net(torch.zeros(1, 1, 100, 60))
    with pytest.raises(ValueError, match=r"expected input of shape \(B, 1, H, W\)"):
        net(torch.zeros(1, 3, 64, 64))


def test_config_round_trip():
    cfg = MCDetConfig.variant("MuTMoS", aspp_rates=(2, 4, 8))
    again = MCDetConfig.from_dict(cfg.to_dict())
    assert again == cfg
    with pytest.raises(ValueError, match="unknown MCDetConfig keys"):
        MCDetConfig.from_dict({**cfg.to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match="unknown variant"):
        MCDetConfig.variant("nope")


def test_batch_of_one_trains():
    net = MCDetNet().train()
    outs = net(torch.randn(1, 1, 32, 32))
    loss = MCDetLoss()(outs, torch.tensor([1]), torch.zeros(1, 2, 32, 32))["loss"]
    loss.backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


def _disk_problem(n: int, size: int, seed: int):
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[:size, :size]
    images, masks, labels = [], [], []
    for i in range(n):
        img = rng.normal(0.3, 0.05, (size, size)).astype(np.float32)
        mask = np.zeros((2, size, size), np.float32)
        label = i % 2 * 2  # alternating soft tissue (0) and "malignant" disk (2)
        if label:
            r0, c0 = rng.integers(8, size - 8, 2)
            disk = (rr - r0) ** 2 + (cc - c0) ** 2 <= rng.integers(3, 6) ** 2
            img[disk] += 0.5
            mask[1][disk] = 1
        images.append(img[None])
        masks.append(mask)
        labels.append(label)
    return (torch.from_numpy(np.stack(images)), torch.from_numpy(np.stack(masks)),
            torch.tensor(labels))


@pytest.mark.slow
def test_overfits_toy_disk_problem():
    torch.manual_seed(0)
    x, m, y = _disk_problem(8, 32, seed=0)
    net = MCDetNet()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    loss_fn = MCDetLoss()
    first = None
    for _ in range(80):
        opt.zero_grad()
        out = loss_fn(net(x), y, m)
        out["loss"].backward()
        opt.step()
        first = first if first is not None else out["loss"].item()
    net.eval()
    with torch.no_grad():
        outs = net(x)
    pred = (torch.sigmoid(outs[0].seg_logits) > 0.5).float()
    dice = 2 * (pred * m).sum() / (pred.sum() + m.sum())
    assert dice > 0.9, f"dice {dice:.3f}"
    assert out["loss"].item() < first / 3
    assert (outs[0].class_logits.argmax(1) == y).all()


def _trained_statistics(net: MCDetNet) -> MCDetNet:
    """BatchNorm statistics that are not the identity, as after training."""
    net.train()
    with torch.no_grad():
        for _ in range(2):
            net(torch.randn(2, 1, 32, 32) * 2 + 1)
    return net.eval()


def test_encode_then_decode_is_the_forward_pass_bit_for_bit():
    torch.manual_seed(0)
    net = _trained_statistics(MCDetNet(MCDetConfig(filters=(4, 8, 16, 32, 64))))
    x = torch.randn(3, 1, 48, 64)
    with torch.no_grad():
        ref = net(x)
        enc = net.encode(x)
        got = net.decode(enc.features)
        part = net.decode([f[1:] for f in enc.features])
    assert [f.shape[1] for f in enc.features] == [4, 8, 16, 32, 64]
    assert enc.features[0].shape[-2:] == (48, 64) and enc.features[4].shape[-2:] == (3, 4)
    for a, b in zip(ref, got):
        assert torch.equal(a.class_logits, b.class_logits)
        assert torch.equal(a.seg_logits, b.seg_logits)
    # the bottleneck's head in encode is the last scale's head of the full pass
    assert torch.equal(enc.class_logits, ref[-1].class_logits)
    # the decoder treats every tile on its own: a subset of the batch gives that subset
    for a, b in zip(ref, part):
        torch.testing.assert_close(a.seg_logits[1:], b.seg_logits, atol=1e-5, rtol=1e-5)


def test_decode_can_leave_the_coarse_segmentations_out():
    torch.manual_seed(0)
    net = MCDetNet(MCDetConfig(filters=(4, 8, 16, 32, 64))).eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        ref = net(x)
        fine = net.decode(net.encode(x).features, coarse_segmentation=False)
    assert torch.equal(ref[0].seg_logits, fine[0].seg_logits)
    assert all(o.seg_logits is None for o in fine[1:])
    assert all(torch.equal(a.class_logits, b.class_logits) for a, b in zip(ref, fine))


@pytest.mark.parametrize("variant,gates", [("MuTMuS", True), ("UNet3+", True),
                                           ("MoTMuS", True), ("MuTMoS", False),
                                           ("MoTMoS", False)])
def test_only_multiscale_classifiers_can_gate(variant, gates):
    net = MCDetNet(MCDetConfig.variant(variant, filters=(4, 8, 16, 32, 64))).eval()
    assert net.can_gate is gates
    if not gates:
        with pytest.raises(ValueError, match="bottleneck's classification head"):
            net.encode(torch.zeros(1, 1, 32, 32))
