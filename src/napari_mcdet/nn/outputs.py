"""The one rule that turns the network's per-scale outputs into probabilities.

- Patch class probabilities: the mean over scales of each classification head's softmax
  (every scale votes equally, as every scale is trained equally by ``L_global``).
- Segmentation probabilities: the sigmoid of the finest scale's segmentation (d1), which sees
  full-scale skip connections from every level; coarser heads only supervise training, as in
  UNet3+'s reference inference.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def combine_scales(outputs: Sequence) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Class probabilities (B, K) and segmentation probabilities (B, C, H, W), or None per task.

    ``outputs`` is the list returned by :class:`~napari_mcdet.nn.MCDetNet` (finest first), or a
    plain tensor of class logits (B, K) from a baseline classifier.
    """
    if isinstance(outputs, torch.Tensor):
        return torch.softmax(outputs.float(), dim=1), None
    cls = [torch.softmax(o.class_logits.float(), dim=1) for o in outputs
           if o.class_logits is not None]
    class_probs = torch.stack(cls).mean(0) if cls else None
    seg = outputs[0].seg_logits
    seg_probs = torch.sigmoid(seg.float()) if seg is not None else None
    return class_probs, seg_probs
