"""The model card and the rebuild recipe describe the files the repository actually holds.

The bundled model's SHA-256 is written in docs/model-card.md: any change to the file (new
weights, a recalibration, new metadata) must come with the card's new checksum. Every path the
card and the rebuild script name must exist, and the shipped configurations must read nothing
outside the checkout.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from napari_mcdet.models.checkpoint import default_model_path
from napari_mcdet.train.config import TrainConfig

REPO = Path(__file__).resolve().parents[2]
CARD = REPO / "docs" / "model-card.md"
SCRIPT = REPO / "scripts" / "rebuild_model.sh"
RECIPE = REPO / "configs" / "bundled_model.yaml"
START = REPO / "configs" / "weights" / "finetune9_start.safetensors"
#: a repository path as the card and the script write them
PATH = re.compile(r"\b((?:configs|scripts|benchmarks|docs|src)/[\w./-]*\w"
                  r"\.(?:yaml|json|safetensors|sh|py|md))\b")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def card_checksum(file_name: str) -> str:
    """The 64-hex-digit checksum the card writes after the first mention of ``file_name`` (on
    the same line or the next)."""
    text = CARD.read_text()
    found = re.search(re.escape(file_name) + r"[^\n]*\n?[^\n]*?\b([0-9a-f]{64})\b", text)
    assert found, f"docs/model-card.md gives no SHA-256 for {file_name}"
    return found.group(1)


def test_card_gives_the_bundled_models_sha256():
    model = default_model_path()
    assert model.resolve() == (REPO / "src/napari_mcdet/models/default.safetensors").resolve()
    assert card_checksum("default.safetensors") == sha256(model), (
        "src/napari_mcdet/models/default.safetensors changed: write its new SHA-256 "
        "(sha256sum) into docs/model-card.md")


def test_card_gives_the_start_weights_sha256():
    assert card_checksum("finetune9_start.safetensors") == sha256(START)


def test_checksum_reader_finds_a_wrong_checksum(tmp_path, monkeypatch):
    # the comparison above can fail: a card with another digest is read as such
    fake = tmp_path / "model-card.md"
    fake.write_text(CARD.read_text().replace(card_checksum("default.safetensors"), "0" * 64))
    monkeypatch.setattr(sys.modules[__name__], "CARD", fake)
    assert card_checksum("default.safetensors") == "0" * 64


@pytest.mark.parametrize("source", [CARD, SCRIPT], ids=["model card", "rebuild script"])
def test_every_path_named_exists(source):
    named = set(PATH.findall(source.read_text()))
    # the recipe's own files are among them, so this cannot pass on an empty list
    assert {"configs/bundled_model.yaml", "configs/weights/finetune9_start.safetensors"} <= named
    missing = sorted(p for p in named if not (REPO / p).exists())
    assert not missing, f"{source.relative_to(REPO)} names files that do not exist: {missing}"


def test_card_points_at_the_rebuild_script():
    assert "scripts/rebuild_model.sh" in CARD.read_text()


def test_recipe_starts_from_the_shipped_weights():
    config = TrainConfig.load(RECIPE)
    assert Path(config.init) == START.resolve()
    assert (config.patch_size, config.batch_size, config.steps, config.keep_every,
            config.seed, config.lr_final) == (192, 16, 5303, 250, 9, None)


def test_script_checks_the_interval_the_card_gives():
    text = SCRIPT.read_text()
    low = re.search(r"^SCORE_LOW=([0-9.]+)$", text, re.M).group(1)
    high = re.search(r"^SCORE_HIGH=([0-9.]+)$", text, re.M).group(1)
    assert f"within {low}-{high}" in CARD.read_text()


@pytest.mark.parametrize("name", ["bundled_model.yaml", "default_minimias.yaml"])
def test_training_configs_read_nothing_outside_the_checkout(name):
    config = TrainConfig.load(REPO / "configs" / name)
    paths = [*config.negatives, config.split, config.init, config.out_dir]
    if config.real_val:
        paths.append(config.real_val.partition(":")[2])
    for path in filter(None, paths):
        assert Path(path).resolve().is_relative_to(REPO), f"{name}: {path} is outside the checkout"


def test_comparison_config_reads_nothing_outside_the_checkout():
    from napari_mcdet.compare import CompareConfig

    config = CompareConfig.load(REPO / "configs" / "compare_minimias.yaml")
    assert config.folder.resolve().is_relative_to(REPO)
    for path in config.train["negatives"]:
        assert Path(path).resolve().is_relative_to(REPO)


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_rebuild_script_parses_and_refuses_a_missing_data_folder(tmp_path):
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    done = subprocess.run(["bash", str(SCRIPT), "--out", str(tmp_path / "out"),
                           str(tmp_path / "no-such-folder")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "no mini-MIAS folder" in done.stderr
    assert not (tmp_path / "out").exists()
