import pickle

import pytest
import torch
from safetensors.torch import save_file

from napari_mcdet.models.checkpoint import (
    CheckpointError,
    load_model,
    read_checkpoint,
    save_checkpoint,
)
from napari_mcdet.nn import MCDetConfig, MCDetNet, build_baseline


def _net():
    torch.manual_seed(0)
    return MCDetNet(MCDetConfig(filters=(4, 8, 16, 32, 64)))


def test_round_trip_keeps_weights_config_and_metadata(tmp_path):
    net = _net()
    path = save_checkpoint(tmp_path / "m.safetensors", net, pixel_spacing=(0.2, 0.2),
                           patch_size=64, metrics={"AUC": 0.5}, recipe={"lr": 1e-4})
    model = load_model(path)
    assert model.architecture == "mcdet" and model.pixel_spacing == (0.2, 0.2)
    assert model.patch_size == 64 and model.metadata["metrics"] == {"AUC": 0.5}
    assert model.metadata["class_names"] == ["soft tissue", "benign", "malignant"]
    assert model.config["filters"] == [4, 8, 16, 32, 64]
    for (k, a), (_, b) in zip(net.state_dict().items(), model.network.state_dict().items()):
        assert torch.equal(a, b), k
    x = torch.randn(1, 1, 32, 32)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(x)[0].seg_logits, model.network(x)[0].seg_logits)


def test_baseline_round_trip(tmp_path):
    net = build_baseline("resnet22-separable")
    path = save_checkpoint(tmp_path / "b.safetensors", net, pixel_spacing=(0.2, 0.2),
                           patch_size=64)
    model = load_model(path)
    assert model.architecture == "resnet22-separable" and not model.is_segmenter
    sd = net.state_dict()
    assert all(torch.equal(sd[k], v) for k, v in model.network.state_dict().items())


def test_truncated_file_is_refused_with_a_reason(tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", _net(), pixel_spacing=(0.2, 0.2),
                           patch_size=64)
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(cut)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"state": _Evil(marker)}, evil)  # a zip pickle, as torch.save writes
    with pytest.raises(CheckpointError, match="never unpickles"):
        load_model(evil)
    raw = tmp_path / "evil.pkl"
    raw.write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(CheckpointError, match="never unpickles"):
        load_model(raw)
    assert not marker.exists()


def test_foreign_safetensors_and_mismatched_weights_are_refused(tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match="not a napari-mcdet checkpoint"):
        load_model(foreign)
    path = save_checkpoint(tmp_path / "m.safetensors", _net(), pixel_spacing=(0.2, 0.2),
                           patch_size=64)
    tensors, meta = read_checkpoint(path)
    meta["config"]["filters"] = [8, 16, 32, 64, 128]
    import json

    save_file(tensors, tmp_path / "bad.safetensors", metadata={"napari_mcdet": json.dumps(meta)})
    with pytest.raises(CheckpointError, match="do not match"):
        load_model(tmp_path / "bad.safetensors")
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "missing.safetensors")


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, _net(), pixel_spacing=(0.2, 0.2), patch_size=64)
    first = path.read_bytes()
    save_checkpoint(path, _net(), pixel_spacing=(0.2, 0.2), patch_size=32)
    assert path.read_bytes() != first
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_export_drops_optimizer_state_and_keeps_weights(tmp_path):
    net = _net()
    opt = torch.optim.Adam(net.parameters())
    net(torch.randn(2, 1, 32, 32))[0].seg_logits.mean().backward()
    opt.step()
    full = save_checkpoint(tmp_path / "last.safetensors", net, pixel_spacing=(0.2, 0.2),
                           patch_size=64, optimizer=opt, step=7)
    from napari_mcdet.models.checkpoint import export_model

    small = export_model(full, tmp_path / "final.safetensors", metrics={"AUC_MCs": 0.7})
    assert small.stat().st_size < full.stat().st_size / 2
    tensors, meta = read_checkpoint(small)
    assert "optimizer" not in meta and not any(k.startswith("optim.") for k in tensors)
    assert meta["metrics"]["AUC_MCs"] == 0.7 and meta["exported_from_step"] == 7
    model = load_model(small)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in model.network.state_dict().items())


def _save_with_first_byte(tmp_path, first: int):
    """A genuine checkpoint whose header length happens to start with byte ``first``."""
    net = _net()
    for n in range(300):
        path = save_checkpoint(tmp_path / "m.safetensors", net, pixel_spacing=(0.2, 0.2),
                               patch_size=64, extra={"note": "x" * n})
        if path.read_bytes()[0] == first:
            return net, path
    raise AssertionError(f"no padding gave a first byte {first:#x}")


@pytest.mark.slow
def test_checkpoint_whose_header_length_starts_with_0x80_loads(tmp_path):
    net, path = _save_with_first_byte(tmp_path, 0x80)
    model = load_model(path)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in model.network.state_dict().items())


def test_legacy_torch_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    legacy = tmp_path / "legacy.pt"
    torch.save({"state": _Evil(marker)}, legacy, _use_new_zipfile_serialization=False)
    assert legacy.read_bytes()[:2] == b"\x80\x02"
    with pytest.raises(CheckpointError, match="never unpickles"):
        load_model(legacy)
    assert not marker.exists()


def _rewrite_meta(tmp_path, edit, name="edited.safetensors"):
    import json

    path = save_checkpoint(tmp_path / "m.safetensors", _net(), pixel_spacing=(0.2, 0.2),
                           patch_size=64)
    tensors, meta = read_checkpoint(path)
    text = edit(meta)
    out = tmp_path / name
    save_file(tensors, out, metadata={"napari_mcdet": text if isinstance(text, str)
                                      else json.dumps(meta)})
    return out


def test_invalid_metadata_json_is_named_as_such(tmp_path):
    bad = _rewrite_meta(tmp_path, lambda meta: '{"format": "napari-mcdet-checkpoint",')
    with pytest.raises(CheckpointError, match="not valid JSON") as info:
        load_model(bad)
    assert "no 'napari_mcdet' metadata" not in str(info.value)
    listed = _rewrite_meta(tmp_path, lambda meta: "[1, 2]", name="list.safetensors")
    with pytest.raises(CheckpointError, match="not an object"):
        load_model(listed)


def test_unknown_architecture_is_named(tmp_path):
    bad = _rewrite_meta(tmp_path, lambda meta: meta.update(architecture="mcdet-v9"))
    with pytest.raises(CheckpointError, match="architecture 'mcdet-v9'.*upgrade") as info:
        load_model(bad)
    assert "BaselineConfig" not in str(info.value)


def test_fortyfold_filters_are_refused_before_the_network_is_built(tmp_path):
    import resource

    def widen(meta):
        meta["config"]["filters"] = [f * 40 for f in meta["config"]["filters"]]

    bad = _rewrite_meta(tmp_path, widen)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="configuration says") as info:
        load_model(bad)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 500, grown_mb  # a real build of this network takes ~1.5 GB
    assert str(bad) in str(info.value)


def test_checkpoint_folder_is_not_reported_missing(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder"):
        load_model(tmp_path)


def test_average_of_kept_steps_is_the_mean_of_their_weights(tmp_path):
    from napari_mcdet.models.checkpoint import average_checkpoints

    nets, paths = [], []
    for step in (1, 2, 3):
        torch.manual_seed(step)
        net = MCDetNet(MCDetConfig(filters=(4, 8, 16, 32, 64)))
        net.train()
        net(torch.randn(2, 1, 32, 32))  # moves the BatchNorm running statistics
        nets.append(net)
        paths.append(save_checkpoint(tmp_path / f"step_{step}.safetensors", net,
                                     pixel_spacing=(0.2, 0.2), patch_size=64, step=step,
                                     optimizer=torch.optim.Adam(net.parameters()),
                                     metrics={"AUC": 0.5}))
    out = average_checkpoints(paths, tmp_path / "avg.safetensors")
    model = load_model(out)
    states = [n.state_dict() for n in nets]
    for k, v in model.network.state_dict().items():
        if v.is_floating_point():
            want = torch.stack([s[k] for s in states]).mean(0)
            assert torch.allclose(v, want, atol=1e-6), k
        else:
            assert torch.equal(v, states[-1][k]), k
    assert model.metadata["averaged_from"] == [
        {"name": f"step_{s}.safetensors", "step": s} for s in (1, 2, 3)]
    assert model.metadata["metrics"] == {} and "optimizer" not in model.metadata


def test_interpolation_lies_on_the_line_from_the_start_model_to_its_fine_tune(tmp_path):
    from napari_mcdet.models.checkpoint import interpolate_models

    start_net = _net()
    torch.manual_seed(5)
    tuned_net = MCDetNet(MCDetConfig(filters=(4, 8, 16, 32, 64)))
    tuned_net.train()
    tuned_net(torch.randn(2, 1, 32, 32))  # moves the BatchNorm running statistics
    start = save_checkpoint(tmp_path / "start.safetensors", start_net, pixel_spacing=(0.2, 0.2),
                            patch_size=64, step=4000)
    tuned = save_checkpoint(tmp_path / "tuned.safetensors", tuned_net, pixel_spacing=(0.2, 0.2),
                            patch_size=96, step=5250, optimizer=torch.optim.Adam(
                                tuned_net.parameters()), metrics={"AUC": 0.5},
                            extra={"averaged_from": [{"name": "step_5250.safetensors",
                                                      "step": 5250}],
                                   "batchnorm_refreshed": {"batches": 1},
                                   "decoder_gate": 0.05,
                                   "operating_point": {"benign": 0.8, "malignant": 0.8}})
    out = interpolate_models(start, tuned, tmp_path / "mid.safetensors", weight=0.75)
    model = load_model(out)
    a, b = start_net.state_dict(), tuned_net.state_dict()
    for k, v in model.network.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, 0.25 * a[k] + 0.75 * b[k], atol=1e-6), k
        else:
            assert torch.equal(v, b[k]), k
    assert model.patch_size == 96  # the fine-tune's
    meta = model.metadata
    assert [(s["name"], s["step"], s["weight"]) for s in meta["interpolated_from"]] == [
        ("start.safetensors", 4000, 0.25), ("tuned.safetensors", 5250, 0.75)]
    assert meta["interpolated_from"][1]["averaged_from"][0]["step"] == 5250
    assert "averaged_from" not in meta and "batchnorm_refreshed" not in meta
    # the fine-tune's calibration describes its own maps, not the interpolated network's
    assert "decoder_gate" not in meta and "operating_point" not in meta
    assert meta["metrics"] == {} and "optimizer" not in meta
    end = load_model(interpolate_models(start, tuned, tmp_path / "end.safetensors", weight=1))
    for k, v in end.network.state_dict().items():
        assert torch.equal(v, b[k]), k


def test_interpolation_refuses_another_network_grid_or_weight(tmp_path):
    from napari_mcdet.models.checkpoint import interpolate_models

    a = save_checkpoint(tmp_path / "a.safetensors", _net(), pixel_spacing=(0.2, 0.2),
                        patch_size=64)
    coarse = save_checkpoint(tmp_path / "coarse.safetensors", _net(), pixel_spacing=(0.4, 0.4),
                             patch_size=64)
    wide = save_checkpoint(tmp_path / "wide.safetensors",
                           MCDetNet(MCDetConfig(filters=(8, 8, 16, 32, 64))),
                           pixel_spacing=(0.2, 0.2), patch_size=64)
    dst = tmp_path / "mid.safetensors"
    with pytest.raises(CheckpointError, match="pixel_spacing.*started from"):
        interpolate_models(a, coarse, dst, weight=0.5)
    with pytest.raises(CheckpointError, match="config.*started from"):
        interpolate_models(a, wide, dst, weight=0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\], got 1.5"):
        interpolate_models(a, a, dst, weight=1.5)
    assert not dst.exists()


def test_average_refuses_checkpoints_of_different_runs(tmp_path):
    from napari_mcdet.models.checkpoint import average_checkpoints

    a = save_checkpoint(tmp_path / "a.safetensors", _net(), pixel_spacing=(0.2, 0.2),
                        patch_size=64)
    b = save_checkpoint(tmp_path / "b.safetensors", _net(), pixel_spacing=(0.2, 0.2),
                        patch_size=96)
    with pytest.raises(CheckpointError, match="patch_size.*one run"):
        average_checkpoints([a, b], tmp_path / "avg.safetensors")
    with pytest.raises(CheckpointError, match="two or more"):
        average_checkpoints([a], tmp_path / "avg.safetensors")
    assert not (tmp_path / "avg.safetensors").exists()


@pytest.mark.parametrize(("key", "value", "want"), [
    ("format_version", "abc", "a whole number"),
    ("pixel_spacing", [float("nan"), 0.2], "two finite positive numbers"),
    ("pixel_spacing", [0.2], "two finite positive numbers"),
    ("pixel_spacing", [0.2, -0.2], "two finite positive numbers"),
    ("patch_size", "64", "a whole number of pixels"),
    ("step", -3, "a whole number"),
])
def test_damaged_metadata_is_named_by_model_file_and_key(tmp_path, key, value, want):
    bad = _rewrite_meta(tmp_path, lambda meta: meta.update({key: value}))
    with pytest.raises(CheckpointError) as info:
        load_model(bad)
    msg = str(info.value)
    assert str(bad) in msg and repr(key) in msg and want in msg and "copy it again" in msg
    assert "invalid literal" not in msg and "\n" not in msg


def test_detect_blames_the_model_not_the_image_for_its_spacing(tmp_path, capsys):
    import numpy as np
    from skimage import io as skio

    from napari_mcdet.cli import main

    image = tmp_path / "small.png"
    pixels = np.random.default_rng(0).integers(500, 3000, (64, 64)).astype(np.uint16)
    skio.imsave(image, pixels, check_contrast=False)
    for spacing in ([float("nan"), float("nan")], [0.2]):
        bad = _rewrite_meta(tmp_path, lambda meta, s=spacing: meta.update(pixel_spacing=s))
        assert main(["detect", str(image), "--model", str(bad), "--spacing", "0.2",
                     "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert "edited.safetensors" in err and "'pixel_spacing'" in err
        assert "small.png" not in err and "IndexError" not in err
