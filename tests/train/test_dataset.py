import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from napari_mcdet.synth.phantom import breast_phantom
from napari_mcdet.train.dataset import SyntheticPatchDataset


@pytest.fixture(scope="module")
def negatives():
    return [breast_phantom((384, 288), pixel_spacing=0.2, seed=s) for s in range(2)]


def test_items(negatives):
    ds = SyntheticPatchDataset(negatives, patch_size=64, seed=0, length=9, augment=True)
    assert len(ds) == 9
    for i in range(6):
        item = ds[i]
        assert item["image"].shape == (1, 64, 64) and item["image"].dtype == torch.float32
        assert item["mask"].shape == (2, 64, 64) and item["mask"].dtype == torch.float32
        assert item["label"].dtype == torch.int64 and int(item["label"]) == i % 3
        lab = int(item["label"])
        if lab == 0:
            assert item["mask"].sum() == 0
        else:
            assert item["mask"][lab - 1].sum() > 0 and item["mask"][2 - lab].sum() == 0


def test_determinism_by_seed_and_index(negatives):
    a = SyntheticPatchDataset(negatives, patch_size=48, seed=3, length=12)
    b = SyntheticPatchDataset(negatives, patch_size=48, seed=3, length=12)
    c = SyntheticPatchDataset(negatives, patch_size=48, seed=4, length=12)
    for i in (5, 1, 2):  # any order
        assert torch.equal(a[i]["image"], b[i]["image"])
        assert torch.equal(a[i]["mask"], b[i]["mask"])
    assert not torch.equal(a[2]["image"], c[2]["image"])


def test_dataloader_workers_match_serial(negatives):
    ds = SyntheticPatchDataset(negatives, patch_size=32, seed=1, length=6, augment=True)
    serial = [ds[i]["image"] for i in range(6)]
    loader = DataLoader(ds, batch_size=3, num_workers=2, shuffle=False)
    batches = [b["image"] for b in loader]
    got = torch.cat(batches)
    assert torch.equal(got, torch.stack(serial))


def test_resampling_and_patch_in_mm(negatives):
    ds = SyntheticPatchDataset(negatives, patch_size_mm=12.8, pixel_spacing=0.4, seed=0, length=3)
    assert ds.patch_size == 32
    image, breast, spacing = ds.prepared(0)
    assert spacing == (0.4, 0.4) and image.shape == (192, 144) and breast.shape == image.shape
    assert ds[2]["image"].shape == (1, 32, 32)


def test_folder_of_pgm(tmp_path, negatives):
    from skimage import io

    for k, m in enumerate(negatives):
        io.imsave(tmp_path / f"n{k}.png", (np.clip(m.pixels, 0, 1) * 255).astype(np.uint8),
                  check_contrast=False)
    ds = SyntheticPatchDataset(tmp_path, patch_size=32, source_spacing=0.2, seed=0, length=3)
    assert len(ds.sources) == 2 and int(ds[1]["label"]) == 1


def test_minimias_negatives(shared_data):
    files = sorted((shared_data / "mini-mias").glob("mdb00*.pgm"))[:2]
    ds = SyntheticPatchDataset(files, patch_size=64, source_spacing=0.2, seed=0, length=3)
    assert int(ds[2]["label"]) == 2 and ds[2]["mask"][1].sum() > 0


def test_bad_arguments(negatives, tmp_path):
    with pytest.raises(ValueError, match="empty"):
        SyntheticPatchDataset([], patch_size=8)
    with pytest.raises(FileNotFoundError):
        SyntheticPatchDataset(tmp_path / "missing")
    with pytest.raises(IndexError):
        SyntheticPatchDataset(negatives, patch_size=8, length=2).sample(5)
    with pytest.raises(ValueError, match="spacing"):
        SyntheticPatchDataset([np.zeros((64, 64))], patch_size=8).prepared(0)
