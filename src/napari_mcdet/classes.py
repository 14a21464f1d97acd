"""The one class-code convention: 0 soft tissue / background, 1 benign, 2 malignant."""

from __future__ import annotations

SOFT_TISSUE, BENIGN, MALIGNANT = 0, 1, 2
CLASS_NAMES: tuple[str, str, str] = ("soft tissue", "benign", "malignant")
#: Segmentation channels of the network, in order: channel 0 is benign, channel 1 is malignant.
SEG_CHANNELS: tuple[str, str] = ("benign", "malignant")
#: RGBA colours used for labels layers and overlays (benign green-cyan, malignant red).
CLASS_COLORS: dict[int, tuple[float, float, float, float]] = {
    SOFT_TISSUE: (0.0, 0.0, 0.0, 0.0),
    BENIGN: (0.0, 0.85, 0.55, 1.0),
    MALIGNANT: (1.0, 0.15, 0.15, 1.0),
}
