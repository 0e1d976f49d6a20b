"""The pieces of benchmarks/quality.py that decide figures: the robust-threshold reference, the docs section."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_quality():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location("quality_benchmark", BENCHMARKS / "quality.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_robust_threshold_flags_a_groove_and_not_the_noise():
    quality = load_quality()
    rng = np.random.default_rng(0)
    image = rng.normal(0, 0.01, (144, 36)).astype(np.float32)
    image[:, 10:12] -= 0.08  # a 2 px groove, 8 robust standard deviations deep
    image[5, 20] = -999.25  # a placeholder: no data, never flagged
    flagged = quality.RobustThreshold(k=4.0).predict_well(image)
    assert np.isnan(flagged[5, 20])
    groove = flagged[:, 10:12]
    rest = np.delete(flagged, [10, 11], axis=1)
    assert np.nanmean(groove) == 1.0
    assert np.nanmean(rest) < 0.001  # 4 sigma: about 3 in 100,000 of Gaussian noise


def test_docs_section_is_replaced_between_its_markers(tmp_path):
    quality = load_quality()
    docs = tmp_path / "benchmarks.md"
    docs.write_text(f"# Benchmarks\n\nbefore\n\n{quality.BEGIN}\nold\n{quality.END}\n\nafter\n")
    quality.write_docs(docs, "## new section\nfigures")
    text = docs.read_text()
    assert "old" not in text and "## new section\nfigures" in text
    assert text.index("before") < text.index("new section") < text.index("after")
    quality.write_docs(docs, "## newer")
    assert docs.read_text().count(quality.BEGIN) == 1 and "## newer" in docs.read_text()
    fresh = tmp_path / "fresh.md"
    quality.write_docs(fresh, "## first")
    assert fresh.read_text().startswith("# Benchmarks") and "## first" in fresh.read_text()


def test_every_entry_has_a_unique_name_and_valid_overrides():
    from corroseg.train.config import load_config

    quality = load_quality()
    names = [e.name for e in quality.ENTRIES]
    assert len(set(names)) == len(names) and len({e.slug for e in quality.ENTRIES}) == len(names)
    for entry in quality.ENTRIES:
        load_config(entry.base, list(entry.overrides))  # a typo would only show after an hour of training
    assert {e.group for e in quality.ENTRIES} >= {"paper", "seeds", *quality.GROUP_TITLES}


def load_texture_check():
    spec = importlib.util.spec_from_file_location("texture_check_benchmark", BENCHMARKS / "texture_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_groove_filter_reads_a_groove_depth_and_ignores_flat_casing():
    check = load_texture_check()
    offsets = np.arange(-4, 5)
    groove = 0.02 * np.where(np.abs(offsets) < 2, np.cos(np.pi * offsets / 4) ** 2, 0.0)
    assert np.isclose(check.groove_kernel() @ -groove, 0.02)  # a 0.02 in deep 2 px groove reads 0.02
    image = np.zeros((200, 36))
    assert check.groove_share(image) == {"groove_0.01": 0.0, "groove_0.02": 0.0, "groove_0.03": 0.0}
    image[:, 15:24] -= groove  # a 0.02 in groove the whole length of the well
    shares = check.groove_share(image)
    assert shares["groove_0.01"] > 0 and shares["groove_0.02"] > 0 and shares["groove_0.03"] == 0.0
