import torch

from napari_mcdet.nn import MCDetNet
from napari_mcdet.nn.inference import fold_batchnorm, prepare_for_inference


def test_folded_network_gives_the_same_outputs():
    torch.manual_seed(0)
    net = MCDetNet()
    # make BN statistics non-trivial
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(2, 1, 32, 32) * 2 + 1)
    net.eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        ref = net(x)
        folded = fold_batchnorm(net)
        fast = prepare_for_inference(net)
        got = folded(x)
        got_cl = fast(x.contiguous(memory_format=torch.channels_last))
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert n_bn < sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    for a, b, c in zip(ref, got, got_cl):
        torch.testing.assert_close(a.seg_logits, b.seg_logits, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(a.seg_logits, c.seg_logits, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(a.class_logits, b.class_logits, atol=1e-4, rtol=1e-4)
    assert net.training is False and any(p.requires_grad for p in net.parameters())
