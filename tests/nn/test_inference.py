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


# -- engines ----------------------------------------------------------------------------------
def _with_statistics(net):
    net.train()
    with torch.no_grad():
        for _ in range(2):
            net(torch.randn(2, 1, 32, 32) * 2 + 1)
    return net.eval()


def test_auto_engine_is_eager_off_the_cpu_and_names_are_checked():
    import pytest

    from napari_mcdet.nn.inference import onnx_available, resolve_engine

    assert resolve_engine("eager", "cpu") == "eager"
    assert resolve_engine("auto", "cuda") == "eager"
    assert resolve_engine("auto", "cpu") == ("onnx" if onnx_available() else "eager")
    with pytest.raises(ValueError, match="engine must be one of"):
        resolve_engine("tensorrt", "cpu")


def test_onnx_engine_matches_eager_within_1e4():
    """Probabilities (combine_scales) and the bottleneck head of the ONNX Runtime graphs against
    the eager BN-folded network, at several batch and tile sizes (the axes are dynamic)."""
    import pytest

    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from napari_mcdet.nn import MCDetConfig
    from napari_mcdet.nn.inference import OnnxNetwork, inference_network
    from napari_mcdet.nn.outputs import combine_scales

    torch.manual_seed(0)
    net = _with_statistics(MCDetNet(MCDetConfig(filters=(4, 8, 16, 32, 64))))
    onnx, engine = inference_network(net, engine="onnx")
    assert engine == "onnx" and isinstance(onnx, OnnxNetwork)
    assert inference_network(net, engine="onnx")[0] is onnx  # exported once per weights
    eager = prepare_for_inference(net)
    for shape in [(3, 1, 64, 64), (1, 1, 48, 80)]:
        x = torch.randn(shape)
        with torch.inference_mode():
            cl = x.contiguous(memory_format=torch.channels_last)
            ref_cls, ref_seg = combine_scales(eager(cl))
            cls, seg = combine_scales(onnx(x))
            ref_gate, gate = eager.encode(x).class_logits, onnx.encode(x).class_logits
        torch.testing.assert_close(seg, ref_seg, atol=1e-4, rtol=0)
        torch.testing.assert_close(cls, ref_cls, atol=1e-4, rtol=0)
        torch.testing.assert_close(gate.softmax(1), ref_gate.softmax(1), atol=1e-4, rtol=0)
    # new weights, new export
    with torch.no_grad():
        net.seg_heads[0].bias.add_(1.0)
    assert inference_network(net, engine="onnx")[0] is not onnx
