"""Numbers the whole package agrees on: dataset pixel spacings and detection defaults.

The command line, the widgets and the core import them from here, so a default changes in one
place.
"""

from __future__ import annotations

# -- datasets -------------------------------------------------------------------------------
#: INbreast's pixel spacing (both axes), mm (70 um; the XML annotations are on this grid).
INBREAST_SPACING_MM = 0.07
#: mini-MIAS's pixel spacing (the 1024 x 1024 PGMs: 200 um after the dataset's reduction), mm.
MINIMIAS_SPACING_MM = 0.2

# -- detection ------------------------------------------------------------------------------
#: Tile overlap, a fraction of the tile side.
DEFAULT_OVERLAP = 0.25
#: Tiles with a smaller fraction of breast pixels are not run.
DEFAULT_MIN_BREAST_FRACTION = 0.05
#: Floor under Li's threshold: on a whole breast, where calcifications cover a tiny fraction of
#: the pixels, Li's minimum cross-entropy threshold can fall inside the background's noise.
DEFAULT_MIN_THRESHOLD = 0.1
#: Tiles per forward pass.
DEFAULT_BATCH_SIZE = 8
#: Candidates closer than this to the breast's outline are dropped, mm.
DEFAULT_SKIN_MARGIN_MM = 3.0
#: A connected response larger than this is not a calcification (the largest benign ones, coarse
#: or rod-like, cover about 7 mm^2; a response blurs a little beyond it), mm^2.
DEFAULT_MAX_AREA_MM2 = 12.0
#: Non-maximum suppression radius between two calcification candidates, mm.
DEFAULT_NMS_MM = 0.6
#: Largest distance between two members of a cluster, mm (BI-RADS: within 1 cm).
DEFAULT_CLUSTER_DIAMETER_MM = 10.0
#: Calcifications needed for a cluster (BI-RADS: at least 3).
DEFAULT_CLUSTER_MIN_COUNT = 3
#: Default target of false clusters per normal image for the calibrated operating point.
DEFAULT_TARGET_FP = 0.5
#: Strict rule: a cluster centroid within this of an annotated region is a hit, mm.
DEFAULT_TOLERANCE_MM = 2.0
#: Inference tile side at the model's grid, pixels (a multiple of 16; the network is fully
#: convolutional, so it need not be the training patch size). A tile runs when 5 % of it is
#: breast, so larger tiles recompute background along the breast's outline and smaller ones
#: their overlap: 128 px computes the fewest pixels per breast pixel, with maps as close to the
#: training tile's as a mere shift of the grid (``benchmarks/tile_size.py``).
DEFAULT_TILE = 128
#: Tile overlap of whole-image detection, pixels at the model's grid: a fixed margin, as the
#: convolutions' border effects reach a fixed distance whatever the tile (no seams measured).
DEFAULT_TILE_OVERLAP = 16
#: Inference engine of detection: 'auto' is ONNX Runtime on the CPU when the ``fast`` extra is
#: installed, else eager PyTorch.
DEFAULT_ENGINE = "auto"
