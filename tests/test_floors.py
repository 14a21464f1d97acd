"""The packages stand on one another one way: no module imports a package on its own floor or
above it, not even inside a function (docs/design.md, "Floors")."""

import ast
from pathlib import Path

import napari_mcdet

#: Floor of each top-level module or subpackage of napari_mcdet; a module may import only from
#: its own package or from a lower floor.
FLOORS = {
    "_version": 0, "constants": 0, "classes": 0,
    "spacing": 1,
    "mammogram": 2,
    "io": 3,
    "data": 4,
    "synth": 5, "nn": 5, "metrics": 5,
    "models": 6,
    "infer": 7,
    "train": 8,
    "compare": 9,
    "commands": 10, "gui": 10,
    "cli": 11, "__init__": 11, "__main__": 11,
}
ROOT = Path(napari_mcdet.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in the file, at any depth."""
    name = _module_name(path)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                out.append((node.lineno, node.module or ""))
                continue
            base = ".".join(package[:len(package) - node.level + 1])
            if node.module:
                out.append((node.lineno, f"{base}.{node.module}"))
            else:
                out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return out


def _floor_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def upward_imports() -> list[str]:
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        src = _floor_package(_module_name(path))
        for line, target in _imports(path):
            if target != "napari_mcdet" and not target.startswith("napari_mcdet."):
                continue
            dst = _floor_package(target)
            if dst == src or src in ("__init__", "__main__"):
                continue
            if FLOORS[dst] >= FLOORS[src]:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line} ({src}, floor {FLOORS[src]}) "
                           f"imports {target} ({dst}, floor {FLOORS[dst]})")
    return bad


def test_every_package_has_a_floor():
    packages = {_floor_package(_module_name(p)) for p in ROOT.rglob("*.py")}
    assert packages <= set(FLOORS), sorted(packages - set(FLOORS))


def test_no_module_imports_its_own_floor_or_above():
    assert upward_imports() == []


def test_the_walk_sees_imports_inside_functions(tmp_path):
    # the walk itself: a relative import inside a function is found and resolved
    path = ROOT / "data" / "tiling.py"
    found = [t for _, t in _imports(path)]
    assert all(t.startswith(("numpy", "collections", "typing", "__future__")) for t in found)
    gradcam = [t for _, t in _imports(ROOT / "infer" / "gradcam_map.py")]
    assert "napari_mcdet.data.tiling" in gradcam  # imported inside gradcam_map()
