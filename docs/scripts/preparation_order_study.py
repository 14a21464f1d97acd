"""Which order prepares an image better for the network: breast mask then resampling, or the
reverse? Breast phantoms with a 0.5 mm skin line and a known breast, drawn at 0.07, 0.1 and
0.2 mm, are prepared at the two other spacings both ways (also as a small breast in a field
twice its size) and compared with the true breast carried to the same grid (area-weighted).

Prints one JSON line per case: Dice with the true breast, the share of the 1 mm band inside the
skin line kept, and the share of mask outside the breast. Run: ``python
docs/scripts/preparation_order_study.py`` (about 2 min on 2 cores).
"""

import json

import numpy as np
from scipy import ndimage as ndi
from skimage.transform import resize

from napari_mcdet.data.breast import breast_mask
from napari_mcdet.data.resample import resample_labels, resample_to_spacing
from napari_mcdet.synth.phantom import breast_phantom


def truth_on(grid_shape, mask):
    return resize(mask.astype(np.float32), grid_shape, order=1, anti_aliasing=True) > 0.5


rows = []
for src in (0.07, 0.1, 0.2):
    for small in (False, True):
        for seed in range(3):
            mm = (120.0, 90.0)
            shape = (int(mm[0] / src), int(mm[1] / src))
            ph = breast_phantom(shape, pixel_spacing=src, skin_mm=0.5, seed=seed)
            px, truth = ph.pixels, ph.metadata["breast_mask"]
            if small:  # a small breast in a large field: the phantom at half size, padded
                h, w = px.shape
                bg = float(np.median(px[~truth]))
                big = np.full((2 * h, 2 * w), bg, np.float32)
                big[h // 2:h // 2 + h, :w] = px
                tb = np.zeros((2 * h, 2 * w), bool)
                tb[h // 2:h // 2 + h, :w] = truth
                px, truth = big, tb
            for dst in (0.07, 0.1, 0.2):
                a = resample_labels(breast_mask(px), (src, src), (dst, dst)).astype(bool)
                img = resample_to_spacing(px, (src, src), (dst, dst))
                b = breast_mask(img)
                t = truth_on(img.shape, truth)
                band = t & ~ndi.binary_erosion(t, iterations=max(1, int(round(1.0 / dst))))
                r = {"src": src, "dst": dst, "small": small, "seed": seed}
                for name, m in (("mask_then_resample", a), ("resample_then_mask", b)):
                    assert m.shape == t.shape, (m.shape, t.shape)
                    r[name] = {"dice": float(2 * (m & t).sum() / (m.sum() + t.sum())),
                               "skin_band_kept": float((m & band).sum() / band.sum()),
                               "outside": float((m & ~t).sum() / t.sum())}
                rows.append(r)
                print(json.dumps(r), flush=True)
