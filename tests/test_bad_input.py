"""Bad input, every reader and command (issue 11).

Every input a user can get wrong ends in one of two ways: refused with one line naming
the file (or option) and the problem, exit code 2, no traceback and no output left
behind; or accepted with a documented conversion, and then the command succeeds with
the right output. Hypothesis fuzzes the bytes of each input kind and the command-line
values (derandomized: CI sees the same examples every run); the explicit cases below
are the issue's list.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file
from typer.testing import CliRunner

from conftest import TINY, one_line_error, write_dataset
from corroseg.cli import app
from corroseg.data.challenge import read_images, read_labels
from corroseg.data.scaling import PatchScaler
from corroseg.errors import CorrosegInputError
from corroseg.models import create
from corroseg.train.config import CONFIG, SCALER, WEIGHTS, load_config, read_config, save_config

runner = CliRunner()

TRAIN = {1: (8, 72), 2: (6, 36), 3: (6, 72), 4: (5, 36)}
TEST = {1: (4, 36), 2: (4, 72)}
PATCH = "well_2_patch_1.npy"
"""The test patch the single-file cases break (well 2 is 72 px wide: 4 patches)."""

FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------ helpers


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def temp_files(*folders: Path) -> list[Path]:
    """Temporary files (names starting with '.') left under ``folders``."""
    return [p for folder in folders if folder.exists() for p in folder.rglob(".*")]


def clean_exit(result, *outputs: Path) -> None:
    """Exit 0, or a user error on one line with exit 2; never a traceback; no temporary files left."""
    event(f"exit {result.exit_code}")  # --hypothesis-show-statistics tells how many were accepted
    crash = "".join(traceback.format_exception(*result.exc_info)) if result.exit_code not in (0, 2) else ""
    assert result.exit_code in (0, 2), result.output + crash
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert not temp_files(*outputs)


def refused(result, *needles: str, outputs: tuple[Path, ...] = ()) -> None:
    """One line naming ``needles``, exit 2, and none of ``outputs`` written (nor temporary files)."""
    one_line_error(result, *needles)
    for out in outputs:
        assert not out.exists(), f"{out} left behind"
        assert not temp_files(out.parent)


@contextlib.contextmanager
def scratch():
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def write_data(root: Path) -> Path:
    """Four labelled training wells and two labelled test wells (36 and 72 px)."""
    write_dataset(root, TRAIN)
    write_dataset(root, TEST, split="test", seed=10)
    return root


def copy_run(run: Path, to: Path) -> Path:
    shutil.copytree(run, to, ignore=shutil.ignore_patterns("checkpoints", "logs"))
    return to


def submission(path: Path) -> dict[str, np.ndarray]:
    return read_labels(path).as_dict()


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    """The clean dataset, written once; copy it before changing it."""
    return write_data(tmp_path_factory.mktemp("clean"))


@pytest.fixture
def work(clean, tmp_path) -> Path:
    """A copy of the clean dataset to break."""
    return Path(shutil.copytree(clean, tmp_path / "data"))


@pytest.fixture(scope="module")
def run(clean, tmp_path_factory) -> Path:
    """A run folder holding an untrained tiny WellNet: prediction cares about the files, not the training."""
    out = tmp_path_factory.mktemp("run")
    cfg = load_config(None, [*TINY, "postprocess=threshold"])
    save_config(cfg, out / CONFIG)
    torch.manual_seed(0)
    model = create(cfg.model, **cfg.model_options)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / WEIGHTS))
    PatchScaler(cfg.scaler).fit(read_images(clean).images).save(out / SCALER)
    (out / "threshold.json").write_text(json.dumps({"threshold": 0.45}))
    return out


@pytest.fixture(scope="module")
def baseline(run, clean, tmp_path_factory) -> dict:
    """What evaluate and predict give on the clean dataset."""
    out = tmp_path_factory.mktemp("baseline") / "sub.csv"
    evaluated = cli("evaluate", run, clean, "--json")
    predicted = cli("predict", run, clean, "--out", out)
    assert evaluated.exit_code == 0 and predicted.exit_code == 0, evaluated.output + predicted.output
    return {"evaluate": json.loads(evaluated.stdout), "masks": submission(out)}


@contextlib.contextmanager
def torch_threads():
    """A fuzzed ``threads=N`` override sets torch's thread count: put it back."""
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


# ------------------------------------------------------------------ fuzzing: file contents


def mutated(valid: bytes) -> st.SearchStrategy[bytes]:
    """Truncations, byte changes and insertions of ``valid`` (mostly in its header), and random bytes."""
    head = min(len(valid) - 1, 160)

    def flip(edits):
        out = bytearray(valid)
        for at, value in edits:
            out[at] = value
        return bytes(out)

    return st.one_of(
        st.binary(max_size=200),
        st.integers(0, len(valid) - 1).map(lambda n: valid[:n]),
        st.lists(st.tuples(st.integers(0, head), st.integers(0, 255)), min_size=1, max_size=6).map(flip),
        st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)), min_size=1, max_size=3).map(flip),
        st.tuples(st.integers(0, head), st.binary(min_size=1, max_size=12)).map(
            lambda t: valid[: t[0]] + t[1] + valid[t[0]:]),
    )


DTYPES = ["<f4", ">f4", "<f8", "<f2", "<i4", "|u1", "|b1", "<c8", "<U3", "|O", "<M8[s]", [("a", "<f4")]]
FILLS = [0.0, 0.01, -999.25, float("nan"), float("inf"), 1e300, 1.0]


def random_array(shapes, dtypes=DTYPES) -> st.SearchStrategy[np.ndarray]:
    """Arrays of a listed dtype and a drawn shape, filled with one (possibly corrupted) value."""
    def build(args):
        dtype, shape, fill = args
        array = np.zeros(shape, dtype=np.dtype(dtype))
        if array.dtype.kind in "fc":
            with np.errstate(over="ignore"):
                array[...] = fill
        return array

    return st.tuples(st.sampled_from(dtypes), shapes, st.sampled_from(FILLS)).map(build)


PATCH_SHAPES = st.one_of(st.just((36, 36)), st.lists(st.integers(0, 40), max_size=3).map(tuple))
VALID_PATCH = npy_bytes(np.full((36, 36), 0.01, np.float32))


@FUZZ
@given(content=st.one_of(mutated(VALID_PATCH), random_array(PATCH_SHAPES).map(npy_bytes)))
def test_fuzz_npy_patch(clean, content):
    with scratch() as root:
        shutil.copytree(clean / "x_test", root / "x_test")
        (root / "x_test" / PATCH).write_bytes(content)
        result = cli("inspect", root)
        clean_exit(result, root)
        if result.exit_code == 2:
            assert PATCH in result.output


def csv_edits(text: str) -> st.SearchStrategy[str]:
    """A label CSV with one edit: a cell, a span deleted or inserted, lines dropped, doubled or swapped."""
    lines = text.splitlines(keepends=True)
    noise = st.text(alphabet=st.sampled_from(list("01 2,;\"'\r\n\t.-eaNn_\x00é")), max_size=6)

    def cell(args):
        row, col, value = args
        fields = lines[row].rstrip("\n").split(",")
        fields[col % len(fields)] = value
        return "".join(lines[:row] + [",".join(fields) + "\n"] + lines[row + 1:])

    def lines_op(args):
        op, i, j = args
        edited = list(lines)
        if op == "drop":
            del edited[i]
        elif op == "double":
            edited.insert(i, edited[i])
        else:
            edited[i], edited[j] = edited[j], edited[i]
        return "".join(edited)

    index = st.integers(0, len(lines) - 1)
    return st.one_of(
        st.tuples(index, st.integers(0, 1296), noise).map(cell),
        st.tuples(st.integers(0, len(text)), st.integers(1, 3000)).map(lambda t: text[: t[0]] + text[t[0] + t[1]:]),
        st.tuples(st.integers(0, len(text)), noise).map(lambda t: text[: t[0]] + t[1] + text[t[0]:]),
        st.integers(0, len(text)).map(lambda n: text[:n]),
        st.tuples(st.sampled_from(["drop", "double", "swap"]), index, index).map(lines_op),
        st.just(text.replace("\n", "\r\n")),
        st.text(max_size=200),
    )


@settings(FUZZ, max_examples=20)
@given(data=st.data())
def test_fuzz_label_csv(clean, data):
    text = data.draw(csv_edits((clean / "y_test.csv").read_text()))
    with scratch() as root:
        shutil.copytree(clean / "x_test", root / "x_test")
        (root / "y_test.csv").write_bytes(text.encode("utf-8", errors="surrogatepass"))
        result = cli("inspect", root, "--json")
        clean_exit(result, root)
        if result.exit_code == 2:
            assert "y_test.csv" in result.output
        else:
            assert json.loads(result.stdout)["labels"]["paired"] <= sum(n for n, _ in TEST.values())


def random_well() -> st.SearchStrategy[bytes]:
    """A well ``.npz`` of random arrays: image, and maybe a mask and depth metadata of any kind."""
    wells = st.sampled_from([(72, 36), (108, 72), (40, 36), (1, 72)])
    images = st.one_of(random_array(wells, ["<f4", ">f4", "<f8", "<f2"]),
                       random_array(st.lists(st.integers(0, 80), max_size=3).map(tuple)))
    extras = st.fixed_dictionaries({}, optional={
        "mask": random_array(st.just((72, 36))),
        "depth_step": st.sampled_from([np.float64(0.5), np.float64(0), np.float64("nan"), np.arange(2.0),
                                       np.str_("1 ft")]),
        "name": st.sampled_from([np.str_("well A"), np.arange(3), np.bytes_(b"\xff")]),
    })
    return st.tuples(images, extras).map(lambda t: npz_bytes(image=t[0], **t[1]))


VALID_WELL = npz_bytes(image=np.full((72, 36), 0.01, np.float32), mask=np.zeros((72, 36), np.uint8))


@settings(FUZZ, max_examples=15)  # an accepted well is predicted too: a PNG each
@given(content=st.one_of(mutated(VALID_WELL), random_well()))
def test_fuzz_well_npz(run, content):
    with scratch() as root:
        well = root / "well.npz"
        well.write_bytes(content)
        inspected = cli("inspect", well)
        clean_exit(inspected, root)
        if inspected.exit_code == 2:
            assert str(well) in inspected.output
            return
        out = root / "out" / "pred.npz"  # what inspect accepts, predict predicts
        predicted = cli("predict", run, well, "--out", out, "--no-random-walker")
        assert predicted.exit_code == 0, predicted.output
        assert out.is_file() and out.with_suffix(".png").is_file() and not temp_files(root)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 300), st.floats(allow_nan=True),
                    st.text(max_size=8))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                           max_size=3), max_leaves=8)
KEYS = st.one_of(st.sampled_from(["model", "model_options", "lr", "batch_size", "max_epochs", "preset", "seed",
                                  "threshold", "window", "window_rows", "expansion", "val_wells", "format",
                                  "exclude_wells", "threads", "max_time", "walker_beta"]),
                 st.text(max_size=8), st.integers(), st.none())


@FUZZ
@given(text=st.one_of(st.text(max_size=200),
                      st.dictionaries(KEYS, VALUES, max_size=5).map(lambda d: yaml.safe_dump(d, allow_unicode=True))))
def test_fuzz_yaml_config(text):
    with scratch() as root:
        path = root / "config.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            cfg = load_config(path)
        except CorrosegInputError as exc:
            event("refused")
            assert exc.path == str(path) and len(str(exc).splitlines()) == 1
            return
        event("accepted")
        assert read_config(save_config(cfg, root / "saved.yaml")) == cfg  # what loads, saves and reloads


WIDTH = st.one_of(st.sampled_from(["36", "72", "2=72", "=36", "1=36", "3=", "x=72", "48", "-72"]), st.text(max_size=5))
THRESHOLD = st.one_of(st.sampled_from(["0.4", "tuned", "0", "1", "-0.5", "nan", "inf", "1e400", "[/]", ""]),
                      st.floats().map(str), st.text(max_size=5))
SPLIT = st.one_of(st.sampled_from(["train", "test", "TEST", ""]), st.text(max_size=5))
FOLDS = st.one_of(st.integers(-3, 6).map(str), st.text(max_size=4))
OVERRIDE_KEYS = st.one_of(st.sampled_from(["lr", "batch_size", "max_epochs", "model", "model_options.channels",
                                           "model_options.dropout", "seed", "threads", "val_wells", "window_rows",
                                           "loss", "scaler", "precision", "max_time", "lr.x", "[/]", ""]),
                          st.text(max_size=6))
OVERRIDE_VALUES = st.one_of(st.sampled_from(["1", "-1", "0", "nan", ".inf", "[4,4,8,8]", "[/]", "{a: 1}", "wellnet",
                                             "corroseg", "'", "", "1e400", "[3,4]"]), st.text(max_size=6))
OVERRIDE = st.tuples(OVERRIDE_KEYS, st.sampled_from(["=", "=", "=", ""]), OVERRIDE_VALUES).map("".join)
VALID = {"--threshold": "0.5", "--split": "test", "--width": "36"}


def predict_options(data) -> list[str]:
    """Valid options for evaluate and predict but one, fuzzed (so every option is reached)."""
    fuzzed = data.draw(st.sampled_from(sorted(VALID)))
    value = data.draw({"--threshold": THRESHOLD, "--split": SPLIT, "--width": WIDTH}[fuzzed])
    return [a for option, default in VALID.items() for a in (option, value if option == fuzzed else default)]


@FUZZ
@given(data=st.data())
def test_fuzz_command_line(run, clean, data):
    command = data.draw(st.sampled_from(["inspect", "evaluate", "predict", "train", "train"]))
    with scratch() as root:
        if command == "inspect":
            args = [clean, "--width", data.draw(WIDTH)]
        elif command == "train":  # unlabelled data: whatever the options, training never starts
            shutil.copytree(clean / "x_train", root / "data" / "x_train")
            args = [root / "data", "--out", root / "run", "--folds", data.draw(FOLDS),
                    *data.draw(st.lists(OVERRIDE, max_size=3))]
        else:
            args = [run, clean, *predict_options(data), "--no-random-walker"]
            if command == "predict":
                args += ["--out", root / "out" / "sub.csv"]
        with torch_threads():
            result = cli(command, *args)
        clean_exit(result, root)
        if command == "train":
            assert result.exit_code == 2 and not (root / "run").exists(), result.output
        if command == "predict" and result.exit_code == 2:
            assert not (root / "out" / "sub.csv").exists()


# ------------------------------------------------------------------ explicit cases: patches (.npy)


def _save(array: np.ndarray):
    return lambda path: np.save(path, array, allow_pickle=True)


BAD_PATCHES = {
    "truncated": (lambda path: path.write_bytes(VALID_PATCH[:100]), "unreadable .npy"),
    "zero bytes": (lambda path: path.write_bytes(b""), "unreadable .npy"),
    "int": (_save(np.zeros((36, 36), np.int32)), "dtype int32"),
    "bool": (_save(np.zeros((36, 36), bool)), "dtype bool"),
    "object": (_save(np.array([{"a": 1}], dtype=object)), "unreadable .npy"),
    "wrong shape": (_save(np.zeros((36, 35), np.float32)), "shape (36, 35)"),
    "3-D": (_save(np.zeros((1, 36, 36), np.float32)), "shape (1, 36, 36)"),
    "an .npz": (lambda path: path.write_bytes(npz_bytes(a=np.zeros((36, 36), np.float32))), "not a single .npy"),
}
"""Refused patch files, and what the one line says besides the file name."""


@pytest.mark.parametrize("case", sorted(BAD_PATCHES))
@pytest.mark.parametrize("command", ["inspect", "evaluate", "predict"])
def test_bad_patch_is_one_line(work, run, case, command):
    write, needle = BAD_PATCHES[case]
    write(work / "x_test" / PATCH)
    out = work / "sub.csv"
    args = {"inspect": [work], "evaluate": [run, work], "predict": [run, work, "--out", out]}[command]
    refused(cli(command, *args), PATCH, needle, outputs=(out,))


@pytest.mark.parametrize("name, needle", [("well_2_patch_01.npy", "leading zeros"), ("well_02_patch_3.npy", "leading zeros"),
                                          ("Well_2_patch_4.npy", "is not well_"), ("x_well_2_patch_4.npy", "is not well_"),
                                          ("well_2_patch_4 .npy", "is not well_")])
def test_patch_names_with_leading_zeros_or_other_prefixes(work, name, needle):
    np.save(work / "x_test" / name, np.zeros((36, 36), np.float32))
    refused(cli("inspect", work), name, needle)


@pytest.mark.parametrize("dtype", ["<f8", ">f4"])
def test_float64_and_byte_swapped_patches_are_converted(work, run, baseline, dtype):
    for path in (work / "x_test").glob("*.npy"):
        np.save(path, np.load(path).astype(dtype))
    out = work / "sub.csv"
    result = cli("predict", run, work, "--out", out)
    assert result.exit_code == 0, result.output
    masks = submission(out)
    assert masks.keys() == baseline["masks"].keys()
    assert all(np.array_equal(masks[name], baseline["masks"][name]) for name in masks)


def test_float64_beyond_float32_becomes_a_corrupted_pixel(work):
    np.save(work / "x_test" / PATCH, np.full((36, 36), 1e300))
    result = cli("inspect", work, "--json")
    assert result.exit_code == 0 and "warning:" not in result.output, result.output
    assert json.loads(result.stdout)["splits"]["x_test"]["corrupted_pixels"]["inf"] == 36 * 36


def test_nan_or_inf_everywhere_is_corrupted_data_not_an_error(work, run):
    for k, path in enumerate(sorted((work / "x_test").glob("*.npy"))):
        np.save(path, np.full((36, 36), (np.nan, np.inf, -np.inf)[k % 3], np.float32))
    out = work / "sub.csv"
    inspected = cli("inspect", work, "--json")
    predicted = cli("predict", run, work, "--out", out)
    evaluated = cli("evaluate", run, work, "--json")
    for result in (inspected, predicted, evaluated):
        assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert json.loads(inspected.stdout)["splits"]["x_test"]["fully_corrupted_patches"] == 8
    assert not any(mask.any() for mask in submission(out).values())  # nothing seen, nothing predicted
    scores = json.loads(evaluated.stdout)
    assert scores["clean_patches"]["patches"] == 0 and scores["clean_patches"]["iou"] is None


# ------------------------------------------------------------------ explicit cases: label CSV


def _edit_frame(edit):
    def write(path: Path) -> None:
        frame = pd.read_csv(path, index_col=0, dtype=str)
        edit(frame).to_csv(path)
    return write


def _cell(value: str):
    def edit(frame):
        frame.iloc[1, 40] = value
        return frame
    return edit


def _text(edit):
    return lambda path: path.write_text(edit(path.read_text()))


BAD_LABELS = {
    "truncated": (lambda path: path.write_bytes(path.read_bytes()[:-1500]), "short row or a truncated file"),
    "zero bytes": (lambda path: path.write_bytes(b""), "not a readable CSV"),
    "utf-16": (lambda path: path.write_bytes(path.read_text().encode("utf-16")), "not a readable CSV"),
    "value 2": (_edit_frame(_cell("2")), "non-binary value 2"),
    "value 255": (_edit_frame(_cell("255")), "non-binary value 255"),
    "missing column": (_edit_frame(lambda f: f.drop(columns=["7"])), "1295 mask columns"),
    "extra index column": (lambda path: pd.read_csv(path, dtype=str).to_csv(path), "extra index column"),
    "no header": (_text(lambda t: t.split("\n", 1)[1]), "no header row"),
    "columns out of order": (_edit_frame(lambda f: f[list(reversed(f.columns))]), "mask column 0 is named '1295'"),
    "semicolons": (_text(lambda t: t.replace(",", ";")), "not comma-separated"),
    "duplicate rows": (_edit_frame(lambda f: pd.concat([f, f.iloc[2:3]])), "duplicate row name"),
    "leading zeros": (_edit_frame(lambda f: f.rename(index={"well_1_patch_1": "well_1_patch_01"})), "leading zeros"),
    "other prefix": (_edit_frame(lambda f: f.rename(index=lambda n: f"x_{n}")), "is not well_"),
    "header only": (_text(lambda t: t.split("\n", 1)[0] + "\n"), "no label rows"),
    "labels of other wells": (_edit_frame(lambda f: f.rename(index=lambda n: n.replace("well_", "well_7"))),
                              "none of its 8 rows"),
}
"""Refused label files, and what the one line says besides the file name."""


@pytest.mark.parametrize("case", sorted(BAD_LABELS))
def test_bad_label_csv_is_one_line(work, run, case):
    write, needle = BAD_LABELS[case]
    write(work / "y_test.csv")
    refused(cli("evaluate", run, work), "y_test.csv", needle)


@pytest.mark.parametrize("case", ["value 2", "extra index column", "duplicate rows", "truncated"])
def test_bad_training_labels_stop_inspect_and_train_before_any_output(work, case):
    BAD_LABELS[case][0](work / "y_train.csv")
    refused(cli("inspect", work), "y_train.csv")
    refused(cli("train", work, "--out", work / "run", *TINY), "y_train.csv", outputs=(work / "run",))


ACCEPTED_LABELS = {
    "windows line endings": lambda path: path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n")),
    "byte-order mark": lambda path: path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes()),
    "names ending in .npy": _edit_frame(lambda f: f.rename(index=lambda n: f"{n}.npy")),
    "0.0 and 1.0": _edit_frame(lambda f: f.replace({"0": "0.0", "1": "1.0"})),
}
"""Label files read as the plain ones: the same names, the same masks."""


@pytest.mark.parametrize("case", sorted(ACCEPTED_LABELS))
def test_accepted_label_variants_read_the_same(work, clean, case):
    ACCEPTED_LABELS[case](work / "y_test.csv")
    got, want = read_labels(work / "y_test.csv"), read_labels(clean / "y_test.csv")
    assert got.names == want.names and np.array_equal(got.masks, want.masks)


def test_windows_line_endings_evaluate_as_the_plain_file(work, run, baseline):
    ACCEPTED_LABELS["windows line endings"](work / "y_test.csv")
    result = cli("evaluate", run, work, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["iou"] == baseline["evaluate"]["iou"]


# ------------------------------------------------------------------ explicit cases: whole wells (.npz)


IMAGE = np.full((72, 36), 0.01, np.float32)

BAD_WELLS = {
    "truncated": (lambda: VALID_WELL[:300], "unreadable .npz"),
    "zero bytes": (lambda: b"", "unreadable .npz"),
    "int image": (lambda: npz_bytes(image=IMAGE.astype(np.int16)), "2-D float array, got int16"),
    "bool image": (lambda: npz_bytes(image=IMAGE > 0), "2-D float array, got bool"),
    "object image": (lambda: npz_bytes(image=np.array([{"a": 1}], dtype=object)), "unreadable .npz"),
    "3-D image": (lambda: npz_bytes(image=IMAGE[None]), "(1, 72, 36)"),
    "width 50": (lambda: npz_bytes(image=np.zeros((72, 50), np.float32)), "72 rows x 50 px"),
    "no rows": (lambda: npz_bytes(image=np.zeros((0, 36), np.float32)), "0 rows x 36 px"),
    "no image": (lambda: npz_bytes(mask=np.zeros((72, 36), np.uint8)), "no 'image'"),
    "mask of 255": (lambda: npz_bytes(image=IMAGE, mask=np.full((72, 36), 255, np.uint8)), "mask must be 0/1"),
    "mask of 2": (lambda: npz_bytes(image=IMAGE, mask=np.full((72, 36), 2, np.uint8)), "mask must be 0/1"),
    "a plain .npy": (lambda: npy_bytes(IMAGE), "a single .npy array"),
    "depth as text": (lambda: npz_bytes(image=IMAGE, depth_start=np.str_("top")), "depth_start must be one finite"),
}
"""Refused well files, and what the one line says besides the file name."""


@pytest.mark.parametrize("case", sorted(BAD_WELLS))
@pytest.mark.parametrize("command", ["inspect", "predict"])
def test_bad_well_npz_is_one_line(tmp_path, run, case, command):
    content, needle = BAD_WELLS[case]
    well = tmp_path / "well.npz"
    well.write_bytes(content())
    out = tmp_path / "out" / "pred.npz"
    args = [well] if command == "inspect" else [run, well, "--out", out]
    refused(cli(command, *args), str(well), needle, outputs=(out, out.with_suffix(".png")))


def _predict_well(run: Path, tmp_path: Path, name: str, **arrays) -> dict:
    well = tmp_path / f"{name}.npz"
    well.write_bytes(npz_bytes(**arrays))
    out = tmp_path / "out" / f"{name}.npz"
    result = cli("predict", run, well, "--out", out)
    assert result.exit_code == 0, result.output
    with np.load(out) as saved:
        return {key: saved[key] for key in saved.files}


def test_float64_well_is_converted(tmp_path, run):
    image = np.random.default_rng(0).normal(0, 0.01, (108, 72))
    as64 = _predict_well(run, tmp_path, "f64", image=image)
    as32 = _predict_well(run, tmp_path, "f32", image=image.astype(np.float32))
    assert np.array_equal(as64["mask"], as32["mask"])
    np.testing.assert_array_equal(as64["probability"], as32["probability"])


def test_well_corrupted_everywhere_predicts_no_data(tmp_path, run):
    image = np.full((72, 36), np.nan, np.float32)
    image[36:] = np.inf
    saved = _predict_well(run, tmp_path, "void", image=image)
    assert not saved["valid"].any() and not saved["mask"].any()


def test_folder_with_one_broken_well_writes_nothing(tmp_path, run):
    wells = tmp_path / "wells"
    wells.mkdir()
    (wells / "a.npz").write_bytes(VALID_WELL)
    (wells / "b.npz").write_bytes(VALID_WELL[:300])
    out = tmp_path / "out"
    refused(cli("predict", run, wells, "--out", out), "b.npz", "unreadable")
    assert not out.exists() or not any(out.iterdir())


# ------------------------------------------------------------------ explicit cases: run folders


def _config(edit):
    def write(run: Path) -> None:
        data = yaml.safe_load((run / CONFIG).read_text())
        edit(data)
        (run / CONFIG).write_text(yaml.safe_dump(data))
    return write


BAD_RUNS = {
    "truncated weights": (lambda run: (run / WEIGHTS).write_bytes((run / WEIGHTS).read_bytes()[:500]), WEIGHTS),
    "weights are a folder": (lambda run: ((run / WEIGHTS).unlink(), (run / WEIGHTS).mkdir()), WEIGHTS),
    "no config": (lambda run: (run / CONFIG).unlink(), CONFIG),
    "empty config": (lambda run: (run / CONFIG).write_text(""), CONFIG),
    "config of another version": (_config(lambda d: d.update(format="corroseg-train-config/2")), "another version"),
    "config with a newer key": (_config(lambda d: d.update(new_option=1)), "new_option"),
    "config with an unknown model": (_config(lambda d: d.update(model="unet9000", model_options={})), CONFIG),
    "config not a mapping": (lambda run: (run / CONFIG).write_text("- a\n- b\n"), CONFIG),
    "scaler without statistics": (lambda run: (run / SCALER).write_text(
        '{"format": "corroseg-robust-scaler/1", "mode": "global"}'), SCALER),
    "scaler of the wrong size": (lambda run: (run / SCALER).write_text(
        '{"format": "corroseg-robust-scaler/1", "mode": "global", "quantile_range": [25, 75], '
        '"center": [0, 0, 0], "scale": [1, 1, 1]}'), SCALER),
}
"""Broken run folders, and what the one line names."""


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_broken_run_folder_is_one_line(tmp_path, run, clean, case):
    broken = copy_run(run, tmp_path / "run")
    edit, needle = BAD_RUNS[case]
    edit(broken)
    out = tmp_path / "sub.csv"
    refused(cli("predict", broken, clean, "--out", out), needle, outputs=(out,))


def test_damaged_tuned_threshold_is_one_line(tmp_path, run, clean):
    broken = copy_run(run, tmp_path / "run")
    (broken / "threshold.json").write_text("[0.5]")
    refused(cli("evaluate", broken, clean, "--threshold", "tuned"), "threshold.json")


# ------------------------------------------------------------------ explicit cases: training input and configs


def test_training_data_all_corrupted_is_refused_before_any_output(work):
    for path in (work / "x_train").glob("*.npy"):
        np.save(path, np.full((36, 36), -999.25, np.float32))
    for extra in ([], ["--folds", "2"]):
        out = work / f"run{len(extra)}"
        refused(cli("train", work, "--out", out, *extra, *TINY), "every pixel is corrupted", outputs=(out,))


def test_bad_training_patch_is_refused_before_any_output(work):
    BAD_PATCHES["truncated"][0](work / "x_train" / "well_3_patch_2.npy")
    refused(cli("train", work, "--out", work / "run", *TINY), "well_3_patch_2.npy", outputs=(work / "run",))


BAD_CONFIGS = {
    "key that is not a name": ("1: 2\n", "is not a name"),
    "another version": ("format: corroseg-train-config/9\n", "another version"),
    "NaN learning rate": ("lr: .nan\n", "finite"),
    "python tag": ("lr: !!python/object:os.system ls\n", "not a readable YAML"),
    "bad float tag": ("lr: !!float abc\n", "not a readable YAML"),
    "binary": (bytes(range(256)), "not a readable YAML"),
    "list": ("- lr\n", "mapping"),
    "preset as a list": ("preset: [paper]\n", "preset"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_file_fails_before_training(work, case):
    content, needle = BAD_CONFIGS[case]
    config = work / "config.yaml"
    config.write_bytes(content if isinstance(content, bytes) else content.encode())
    refused(cli("train", work, "--out", work / "run", "--config", config), str(config), needle,
            outputs=(work / "run",))


@pytest.mark.parametrize("args, needle", [
    (["--folds", "abc"], "--folds"), (["--folds", "1"], "--folds 1"), (["seed=-1"], "seed=-1"),
    (["threads=-2"], "threads=-2"), (["lr=[/]"], "lr=['/']"), (["[/]=1"], "'[/]'"), (["lr"], "key=value"),
    (["max_time=0"], "max_time=0"), (["windows_per_epoch=0"], "windows_per_epoch=0"),
    (["max_cpu_time=-1"], "max_cpu_time=-1"), (["cutmix=1.5"], "cutmix=1.5"),
    (["model_options.padding=reflect"], "padding"),
])
def test_bad_training_options_fail_before_any_output(work, args, needle):
    refused(cli("train", work, "--out", work / "run", *args), needle, outputs=(work / "run",))


@pytest.mark.parametrize("args, needle", [
    (["--threshold", "nan"], "threshold nan"), (["--threshold", "2"], "threshold 2"),
    (["--threshold", "x"], "--threshold"), (["--split", "valid"], "--split"), (["--width", "3="], "--width"),
    (["--width", "48"], "36 or 72"), (["--engine", "tpu"], "engine"),
])
def test_bad_prediction_options_are_one_line(work, run, args, needle):
    out = work / "sub.csv"
    refused(cli("predict", run, work, "--out", out, *args), needle, outputs=(out,))


def test_markup_in_a_path_is_printed_as_is(run, clean, tmp_path):
    root = Path(shutil.copytree(clean, tmp_path / "[/]data[red]"))  # not valid markup: a crash before
    for result in (cli("inspect", root), cli("predict", run, root, "--out", root / "sub.csv")):
        assert result.exit_code == 0 and "[/]data[red]" in result.output, result.output
    (root / "x_test" / PATCH).write_bytes(b"")
    refused(cli("inspect", root), f"{root}/x_test/{PATCH}")
