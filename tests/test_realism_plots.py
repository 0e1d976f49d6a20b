import os
import subprocess
import sys

import pytest

from corroseg.synth.generator import write_dataset
from corroseg.synth.realism import load_sample


def test_importing_the_plots_leaves_the_backend_and_pyplot_alone():
    # a fresh interpreter with a non-Agg backend chosen by the user
    code = (
        "import sys, matplotlib\n"
        "before = matplotlib.get_backend()\n"
        "import corroseg.report.realism_plots\n"
        "assert matplotlib.get_backend() == before, (before, matplotlib.get_backend())\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
        "print(before)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "MPLBACKEND": "svg"}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "svg"


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    a = write_dataset(root / "a", seed=1, preset="tiny")
    b = write_dataset(root / "b", seed=2, preset="tiny")
    return load_sample(a, "synthetic"), load_sample(b, "real")


def test_plots_are_written_atomically_as_png(samples, tmp_path):
    from corroseg.report.realism_plots import plot_statistics, plot_wells

    synthetic, real = samples
    out = tmp_path / "figures"
    written = [plot_statistics(synthetic, real, out / "statistics.png"), plot_wells(synthetic, real, out / "wells.png")]
    assert written == [out / "statistics.png", out / "wells.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == ["statistics.png", "wells.png"]  # no temporary left
