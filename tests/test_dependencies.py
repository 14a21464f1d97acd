"""Every package the source imports is declared in pyproject.toml (core, or the extra it needs)."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
#: import name -> distribution name, where they differ
DISTRIBUTION = {"PIL": "pillow", "skimage": "scikit-image", "sklearn": "scikit-learn",
                "yaml": "pyyaml", "dicomweb_client": "dicomweb-client"}
#: the package itself
OWN = {"napari_mcdet"}


def _imported() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "src" / "napari_mcdet").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names - set(sys.stdlib_module_names) - OWN - {"__future__"}


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    return {re.split(r"[\[<>=!~ ;]", s, maxsplit=1)[0].strip().lower() for s in specs}


def test_every_imported_package_is_declared():
    declared = _declared()
    missing = sorted(n for n in _imported() if DISTRIBUTION.get(n, n).lower() not in declared)
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
