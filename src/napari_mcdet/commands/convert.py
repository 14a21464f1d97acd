"""``mcdet convert``: an INbreast XML annotation and its DICOM image -> DICOM SEG + SR."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convert",
        help="INbreast XML annotations (with their DICOM image) -> DICOM SEG + SR",
        description=(
            "Write an INbreast annotation as DICOM objects on its image: <stem>_seg.dcm (benign "
            "and malignant calcification segments on the image's pixel grid) and <stem>_sr.dcm "
            "(a TID 1500 report: one finding per calcification, a point, and per cluster "
            "outline, its box), both referencing the image's study, series and instance and "
            "marked as a manual annotation."
        ),
    )
    p.add_argument("xml", metavar="XML", help="the INbreast annotation (.xml)")
    p.add_argument("--image", required=True, metavar="DICOM",
                   help="the DICOM mammogram the annotation was drawn on")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--stem", default=None,
                   help="output file prefix (default: the XML file's name)")
    p.add_argument("--mapping", choices=("paper", "birads"), default="paper",
                   help="classes: 'paper' (clusters malignant, isolated calcifications benign) "
                        "or 'birads' (every calcification gets the image's --birads class)")
    p.add_argument("--birads", default=None, help="the image's BI-RADS, for --mapping birads")
    p.add_argument("--annotator", default="",
                   help="the annotator's name for the report (DICOM person name, Family^Given)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..infer.export_dicom import write_annotation_dicom
    from ..io.dicom import dicom_spacing
    from ..io.dicom_derived import source_header
    from ..io.inbreast import (
        inbreast_findings,
        inbreast_labels,
        is_inbreast_xml,
        read_inbreast_xml,
    )
    from ..io.writers import writable_folder

    xml, image = Path(args.xml), Path(args.image)
    if not xml.is_file():
        raise FileNotFoundError(f"no such annotation file: {xml}")
    if not is_inbreast_xml(xml):
        raise ValueError(f"{xml} is not an INbreast annotation (an OsiriX property list with "
                         "'Images' and 'ROIs'); give the XML from INbreast's AllXML folder")
    if args.mapping == "birads" and args.birads is None:
        raise ValueError("--mapping birads needs --birads (the image's BI-RADS, e.g. 4b)")
    args.current_file = image
    header = source_header(image)
    out = writable_folder(args.out, what="--out")
    shape = (int(header.Rows), int(header.Columns))
    spacing = dicom_spacing(image)[0]
    args.current_file = xml
    rois = read_inbreast_xml(xml)
    labels = inbreast_labels(rois, shape, mapping=args.mapping, birads=args.birads,
                             **({"pixel_spacing": spacing} if spacing else {}))
    findings = inbreast_findings(rois, labels, mapping=args.mapping, birads=args.birads)
    if not findings:
        raise ValueError(f"{xml} holds no calcification or cluster ROI (only masses or other "
                         "lesions): there is nothing to convert")
    stem = args.stem or xml.stem
    written = write_annotation_dicom(labels, image, out, stem, annotator=args.annotator,
                                     pixel_spacing=spacing, findings=findings)
    n_calc = sum(f.kind == "calcification" for f in findings)
    print(f"{xml.name}: {n_calc} calcifications, {len(findings) - n_calc} clusters on "
          f"{image.name} -> {written['seg']}, {written['sr']}")
    args.current_file = None
    return 0
