import csv
import json

import numpy as np
from skimage import io

from napari_mcdet.cli import main
from napari_mcdet.synth.phantom import breast_phantom


def test_mcdet_synth_writes_balanced_patches(tmp_path, capsys):
    neg = tmp_path / "neg"
    neg.mkdir()
    for k in range(2):
        m = breast_phantom((256, 192), pixel_spacing=0.2, seed=k)
        io.imsave(neg / f"n{k}.png", (np.clip(m.pixels, 0, 1) * 255).astype(np.uint8),
                  check_contrast=False)
    out = tmp_path / "out"
    rc = main(["synth", str(neg), "--out", str(out), "-n", "6", "--patch-size", "48",
               "--source-spacing", "0.2", "--seed", "3"])
    assert rc == 0
    rows = list(csv.DictReader(open(out / "index.csv")))
    assert [int(r["label"]) for r in rows] == [0, 1, 2, 0, 1, 2]
    for r in rows:
        img, msk = np.load(out / r["image"]), np.load(out / r["mask"])
        assert img.shape == msk.shape == (48, 48) and img.dtype == np.float32
        assert (msk.max() == int(r["label"])) or int(r["label"]) == 0 and msk.max() == 0
    params = json.load(open(out / "params.json"))
    assert params["settings"]["seed"] == 3 and len(params["patches"]) == 6


def test_mcdet_synth_bad_folder(tmp_path, capsys):
    rc = main(["synth", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "-n", "3"])
    assert rc == 2 and "no such folder" in capsys.readouterr().err
