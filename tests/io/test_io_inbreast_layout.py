"""INbreast's folder layout (one case's files, the metadata table, the grid of annotations shown
alone), on the real XML, csv and xls files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from napari_mcdet.io.inbreast import (
    INBREAST_SHAPES,
    InbreastROI,
    case_number,
    inbreast_case,
    inbreast_grid,
    read_inbreast_table,
    read_inbreast_xml,
)


def _layout(root: Path, shared_data: Path, *, table: str | None) -> Path:
    """An INbreast-like folder: two real XMLs, one DICOM name per case (empty files: only
    their names matter here) and the real metadata table."""
    (root / "AllXML").mkdir(parents=True)
    (root / "AllDICOMs").mkdir()
    for number in ("22613624", "26933801"):
        shutil.copy(shared_data / "inbreast" / "AllXML" / f"{number}.xml", root / "AllXML")
    (root / "AllDICOMs" / "22613624_5530d5782fc89dd7_MG_R_CC_ANON.dcm").write_bytes(b"")
    (root / "AllDICOMs" / "2261362_0000000000000000_MG_R_CC_ANON.dcm").write_bytes(b"")
    if table:
        shutil.copy(shared_data / "inbreast" / table, root)
    return root


def test_case_number():
    assert case_number("22613624_5530d5782fc89dd7_MG_R_CC_ANON.dcm") == "22613624"
    assert case_number("26933801.xml") == "26933801"
    assert case_number("pom.xml") is None


@pytest.mark.parametrize("table", ["INbreast.csv", "INbreast.xls"])
def test_case_of_an_xml_in_an_inbreast_folder(shared_data, tmp_path, table):
    root = _layout(tmp_path / "INbreast", shared_data, table=table)
    case = inbreast_case(root / "AllXML" / "22613624.xml")
    assert case.file_name == "22613624" and case.xml == root / "AllXML" / "22613624.xml"
    # the DICOM whose number is the XML's, not the one whose number is a prefix of it
    assert case.dicom.name == "22613624_5530d5782fc89dd7_MG_R_CC_ANON.dcm"
    # INbreast.csv lists 22613624 as R, CC, BI-RADS 2
    assert (case.laterality, case.view, case.birads) == ("R", "CC", "2")
    other = inbreast_case(root / "AllXML" / "26933801.xml")
    assert other.dicom is None and other.birads == "4b"


def test_case_of_an_xml_outside_any_inbreast_folder(shared_data, tmp_path, inbreast_xml):
    (tmp_path / "a").mkdir()
    path = shutil.copy(inbreast_xml("26933801"), tmp_path / "a")
    case = inbreast_case(path)
    assert case.file_name == "26933801" and case.xml == Path(path)
    assert case.dicom is None and case.birads is None


def test_table_prefers_the_csv(shared_data, tmp_path):
    assert read_inbreast_table(tmp_path) == []
    root = _layout(tmp_path / "x", shared_data, table="INbreast.xls")
    from_xls = read_inbreast_table(root)
    assert len(from_xls) == 410 and "micros" in from_xls[0]  # a column of the xls only
    shutil.copy(shared_data / "inbreast" / "INbreast.csv", root)
    from_csv = read_inbreast_table(root)
    assert len(from_csv) == 410 and "micros" not in from_csv[0]


def test_grid_for_annotations_alone(shared_data, inbreast_xml):
    rois = read_inbreast_xml(inbreast_xml("26933801"))
    assert inbreast_grid(rois) == INBREAST_SHAPES[0] == (4084, 3328)
    # a point beyond the larger INbreast image: the grid ends just past the farthest row and
    # column (ceil + 1 pixels)
    beyond = [InbreastROI("Calcification", 19, [[5000.2, 100.0]]),
              InbreastROI("Calcification", 19, [[10.0, 3400.5]])]
    assert inbreast_grid(rois + beyond) == (5002, 3402)
    assert inbreast_grid([]) == INBREAST_SHAPES[0]
