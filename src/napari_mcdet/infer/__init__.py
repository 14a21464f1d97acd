"""Inference: running trained networks on patches and whole mammograms, and scoring them.

- :mod:`.patches`: :func:`~.patches.predict_patches`, the one place a network runs on patches;
- :mod:`.realsets`: real annotated images prepared exactly as training prepares its inputs;
- :mod:`.detect`: :func:`~.detect.detect`, tiled whole-image detection (``napari_mcdet.detect``);
- :mod:`.export`: a detection's files (maps, label image, tables, overlay);
- :mod:`.evaluate`: the paper's tables, FROC and image-level AUC on annotated data sets.

Submodules are imported on demand (this package imports no torch by itself).
"""
