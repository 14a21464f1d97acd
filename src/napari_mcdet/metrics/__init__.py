"""The paper's metrics and the whole-image detection metrics (numpy, scipy, scikit-image/-learn).

- :mod:`.patches`: evaluation patches (malignant-centred, then a non-overlapping tiling) and their
  labels (malignant > benign > soft tissue);
- :mod:`.auc`: patch AUC_MCs and AUC_mlg;
- :mod:`.pixels`: pixel recall, precision and Dice per class (benign ground truth dilated 10 x 10),
  Li's threshold binarisation;
- :mod:`.froc`: FROC for calcifications and clusters, image-level AUC;
- :mod:`.report`: Table 2 / Table 4 layouts (Markdown, CSV), JSON report, ROC/FROC PNG plots.

See ``docs/metrics.md`` for the exact definitions.
"""

from .auc import (
    RocCurve,
    UndefinedMetricWarning,
    auc_mcs,
    auc_mlg,
    binary_roc,
    patch_aucs,
    patch_roc,
)
from .froc import FP_RATES, FrocResult, froc, sensitivity_at_fp
from .patches import (
    PATCH_SIZE,
    EvalPatch,
    evaluation_patches,
    extract_evaluation_patches,
    malignant_centres,
    patch_label,
)
from .pixels import (
    BENIGN_DILATION,
    PixelCounts,
    PixelMetrics,
    binarize,
    dilate_benign,
    pixel_counts,
    pixel_metrics,
    summarize_counts,
)
from .report import (
    PAPER_FIGURES,
    flat_table,
    froc_table,
    metrics_table,
    plot_froc,
    plot_roc,
    render_table,
    table2,
    table4,
    write_json_report,
    write_report,
)

__all__ = [
    "BENIGN_DILATION",
    "FP_RATES",
    "PAPER_FIGURES",
    "PATCH_SIZE",
    "EvalPatch",
    "FrocResult",
    "PixelCounts",
    "PixelMetrics",
    "RocCurve",
    "UndefinedMetricWarning",
    "auc_mcs",
    "auc_mlg",
    "binarize",
    "binary_roc",
    "dilate_benign",
    "evaluation_patches",
    "extract_evaluation_patches",
    "froc",
    "froc_table",
    "malignant_centres",
    "metrics_table",
    "patch_aucs",
    "patch_label",
    "patch_roc",
    "pixel_counts",
    "pixel_metrics",
    "plot_froc",
    "plot_roc",
    "sensitivity_at_fp",
    "summarize_counts",
    "table2",
    "table4",
    "write_json_report",
    "render_table",
    "flat_table",
    "write_report",
]
