"""Whether an image lies in the domain a model was trained on, and one warning when it does not.

A model learns the look of its training images at their pixel spacing: how wide a calcification
is in pixels, how sharp its edge, how much noise and texture surround it. Detection resamples
every image to the model's spacing, but an image acquired much finer or coarser (or by another
modality: film against digital) still differs from the training images after resampling, and
the model's operating point, chosen on its own normals, no longer means what it meant there.

A checkpoint records its training domain under
:data:`~napari_mcdet.models.checkpoint.TRAINING_DOMAIN_KEY` (``modality``, ``pixel_spacing``,
``data``); a model without that key falls back to the spacing it was trained at, with the
modality unknown. :func:`detect <napari_mcdet.infer.detect.detect>` calls
:func:`warn_out_of_domain`, which warns once per process for each model and image domain.
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass
from typing import Any

from ..mammogram import Mammogram
from ..spacing import as_spacing

__all__ = [
    "SPACING_TOLERANCE",
    "Domain",
    "DomainWarning",
    "domain_message",
    "domain_note",
    "image_domain",
    "model_domain",
    "showcase_spacings",
    "take_domain_warning",
    "warn_out_of_domain",
]

#: An image is in a model's domain when its spacing lies within this factor of the model's
#: (both ways). Resampling by up to a quarter changes the width of a calcification on the model's
#: grid by less than one pixel (they are 1 to 4 pixels wide at 0.2 mm); beyond it the resampled
#: calcifications are softer or blockier, and the noise lower or higher, than in training.
SPACING_TOLERANCE = 1.25

#: DICOM SOP classes of digital mammograms (For Presentation, For Processing).
_DIGITAL_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.1.2", "1.2.840.10008.5.1.4.1.1.1.2.1")
_MODALITIES = ("film", "digital")


class DomainWarning(UserWarning):
    """Detection on an image outside the model's training domain."""


@dataclass(frozen=True)
class Domain:
    """Where images come from: their modality, pixel spacing and, for a model, its data.

    Attributes
    ----------
    pixel_spacing : (float, float)
        mm per pixel (row, col).
    modality : {'film', 'digital'} or None
        None when unknown (a PNG, a phantom, a secondary-capture DICOM).
    data : str or None
        The training data, for a model's domain ("mini-MIAS normals").
    """

    pixel_spacing: tuple[float, float]
    modality: str | None = None
    data: str | None = None

    def describe(self, *, data: bool = True) -> str:
        """``'film at 0.2 mm (mini-MIAS normals)'``; ``data=False`` leaves out the data."""
        r, c = self.pixel_spacing
        spacing = f"{r:g} mm" if math.isclose(r, c) else f"{r:g} x {c:g} mm"
        text = f"{self.modality} at {spacing}" if self.modality else spacing
        return f"{text} ({self.data})" if data and self.data else text


def model_domain(model: Any) -> Domain:
    """The training domain a model's metadata records, else its pixel spacing alone.

    Parameters
    ----------
    model : TrainedModel
        Anything with ``metadata`` (dict) and ``pixel_spacing``.
    """
    from ..models.checkpoint import TRAINING_DOMAIN_KEY

    spacing = as_spacing(model.pixel_spacing)
    record = (getattr(model, "metadata", None) or {}).get(TRAINING_DOMAIN_KEY)
    if not isinstance(record, dict):
        return Domain(spacing)
    try:
        spacing = as_spacing(record.get("pixel_spacing", spacing))
    except (TypeError, ValueError):
        pass  # a damaged record: the network's own spacing is still known
    modality = record.get("modality")
    data = record.get("data")
    return Domain(spacing, modality if modality in _MODALITIES else None,
                  str(data) if data else None)


def image_modality(metadata: dict[str, Any]) -> str | None:
    """``'digital'`` for a digital mammography DICOM, ``'film'`` for a mini-MIAS image or one
    whose metadata says so (``metadata['modality']``), else None (unknown: a scanned film saved
    as a secondary-capture DICOM cannot be told from a screenshot)."""
    stated = metadata.get("modality")
    if stated in _MODALITIES:
        return stated
    if metadata.get("dataset") == "mini-mias":
        return "film"
    if (str(metadata.get("SOPClassUID", "")) in _DIGITAL_SOP_CLASSES
            or metadata.get("PresentationIntentType")):
        return "digital"
    return None


def image_domain(image: Mammogram) -> Domain:
    """An image's domain: its pixel spacing (which it must have) and its modality if known."""
    if image.pixel_spacing is None:
        raise ValueError("the image has no pixel spacing: its domain is unknown")
    return Domain(as_spacing(image.pixel_spacing), image_modality(image.metadata))


def _within(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return all(1 / SPACING_TOLERANCE <= x / y <= SPACING_TOLERANCE for x, y in zip(a, b))


def domain_message(image: Mammogram, model: Any) -> str | None:
    """One line saying how ``image`` lies outside ``model``'s training domain and what to do;
    None when it lies inside (or its modality is unknown and its spacing matches).

    Parameters
    ----------
    image : Mammogram
        With its pixel spacing.
    model : TrainedModel
    """
    ours, theirs = model_domain(model), image_domain(image)
    finer = coarser = False
    if not _within(theirs.pixel_spacing, ours.pixel_spacing):
        finer = max(theirs.pixel_spacing) < min(ours.pixel_spacing)
        coarser = not finer
    other = bool(theirs.modality and ours.modality and theirs.modality != ours.modality)
    if not (finer or coarser or other):
        return None
    how = [f"{theirs.modality} instead of {ours.modality}"] if other else []
    if finer or coarser:
        how.append(f"pixels {'finer' if finer else 'coarser'} than the model's")
    return (f"this image ({theirs.describe()}) is outside the model's training domain, "
            f"{ours.describe()}: {', '.join(how)}, so its calcifications and texture differ "
            "from the training images and the operating point may not hold; calibrate the "
            "model on your own normal images (mcdet calibrate MODEL NORMALS...) or train it on "
            "them (mcdet train)")


def domain_note(image: Mammogram, model: Any) -> str:
    """One line on ``image`` and ``model``'s training domain: :func:`domain_message` when it lies
    outside, else whether it matches in modality and spacing or in spacing alone (its modality
    unknown)."""
    message = domain_message(image, model)
    if message is not None:
        return message
    ours, theirs = model_domain(model), image_domain(image)
    if ours.modality and theirs.modality:
        return (f"this image ({theirs.describe()}) is in the model's training domain, "
                f"{ours.describe()}")
    return (f"this image ({theirs.describe()}) matches the pixel spacing of the model's "
            f"training domain, {ours.describe()}")


_warned: set[tuple[Any, ...]] = set()
_lock = threading.Lock()


def take_domain_warning(image: Mammogram, model: Any) -> str | None:
    """:func:`domain_message` the first time this process meets ``model`` and ``image``'s
    domain, else None: the once-per-process rule, for callers that show the warning their own
    way (napari's notifications)."""
    message = domain_message(image, model)
    if message is None:
        return None
    meta = getattr(model, "metadata", None) or {}
    key = (str(meta.get("path") or id(model)), model_domain(model), image_domain(image))
    with _lock:
        if key in _warned:
            return None
        _warned.add(key)
    return message


def warn_out_of_domain(image: Mammogram, model: Any, *, stacklevel: int = 3) -> str | None:
    """Warn (:class:`DomainWarning`) when ``image`` lies outside ``model``'s training domain,
    once per process for each model and image domain (:func:`take_domain_warning`); returns
    :func:`domain_message`, warned or not.

    ``stacklevel`` 3 names the caller of the function that calls this one (``detect``'s).
    """
    first = take_domain_warning(image, model)
    if first is not None:
        warnings.warn(first, DomainWarning, stacklevel=stacklevel)
        return first
    return domain_message(image, model)


def showcase_spacings(model: Any) -> tuple[float, float]:
    """Two pixel spacings (mm) to show ``model`` at: its training domain's, and one twice as
    fine, outside it (where ``mcdet demo`` draws its two phantoms)."""
    spacing = float(min(model_domain(model).pixel_spacing))
    return spacing, spacing / 2
