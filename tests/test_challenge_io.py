import shutil
import zipfile

import numpy as np
import pandas as pd
import pytest

from corroseg.data.challenge import (
    LegacyLabelsWarning,
    load_split,
    read_images,
    read_labels,
    write_submission,
)
from corroseg.data.names import format_name, parse_name, sort_key
from corroseg.errors import CorrosegInputError


def test_names_parse_and_sort_numerically():
    assert parse_name("well_12_patch_7.npy") == (12, 7)
    assert parse_name("well_x_patch_1") is None
    names = ["well_2_patch_10", "well_10_patch_0", "well_2_patch_9"]
    assert sorted(names, key=sort_key) == ["well_2_patch_9", "well_2_patch_10", "well_10_patch_0"]
    assert format_name(3, 4) == "well_3_patch_4"


def test_reads_folder_in_numeric_order(dataset):
    images = read_images(dataset)
    assert len(images) == 25
    assert images.images.shape == (25, 36, 36) and images.images.dtype == np.float32
    assert images.well_ids() == [1, 2, 3, 4]
    first = images.names.index("well_1_patch_9") if "well_1_patch_9" in images.names else None
    assert first is None  # well 1 has 8 patches
    assert images.names[:3] == ["well_1_patch_0", "well_1_patch_1", "well_1_patch_2"]
    raw = np.load(dataset / "x_train" / "well_3_patch_4.npy")
    np.testing.assert_array_equal(images.images[images.names.index("well_3_patch_4")], raw)


def test_reads_nested_images_folder_and_zip(dataset, tmp_path_factory):
    flat = read_images(dataset)
    nested = tmp_path_factory.mktemp("nested")
    shutil.copytree(dataset / "x_train", nested / "x_train" / "images")
    assert read_images(nested).names == flat.names
    archive = tmp_path_factory.mktemp("zip") / "x_train.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted((dataset / "x_train").iterdir()):
            zf.write(file, f"images/{file.name}")
    from_zip = read_images(archive)
    np.testing.assert_array_equal(from_zip.images, flat.images)
    shutil.copy(archive, nested / "x_test.zip")
    assert len(read_images(nested, "test")) == len(flat)


def test_labels_looked_up_by_name_not_order(dataset):
    labels_path = dataset / "y_train.csv"
    frame = pd.read_csv(labels_path, index_col=0)
    frame.sample(frac=1.0, random_state=0).to_csv(labels_path)  # shuffle rows
    split = load_split(dataset)
    expected = frame.loc[split.images.names].to_numpy().reshape(-1, 36, 36)
    np.testing.assert_array_equal(split.masks, expected)


def test_pairing_reports_orphans_and_keeps_pairs(dataset):
    (dataset / "x_train" / "well_4_patch_4.npy").unlink()  # mask without image
    frame = pd.read_csv(dataset / "y_train.csv", index_col=0)
    frame.drop(index="well_2_patch_5").to_csv(dataset / "y_train.csv")  # image without mask
    split = load_split(dataset)
    assert split.pairing.masks_without_images == ["well_4_patch_4"]
    assert split.pairing.images_without_masks == ["well_2_patch_5"]
    assert len(split.images) == len(split.masks) == 23
    assert "well_2_patch_5" not in split.images.names


def test_submission_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    names = [format_name(w, p) for w in (2, 1) for p in (3, 0, 1, 2)]
    masks = (rng.random((len(names), 36, 36)) < 0.1).astype(np.uint8)
    masks[0] = 0  # an empty mask is a row of zeros
    path = write_submission(tmp_path / "sub.csv", names, masks)
    text = path.read_text().splitlines()
    assert text[0].split(",")[:3] == ["", "0", "1"] and len(text[0].split(",")) == 1297
    assert text[1].startswith("well_1_patch_0,")
    assert set(text[1].split(",")[1:]) <= {"0", "1"}
    labels = read_labels(path)
    back = labels.as_dict()
    for name, mask in zip(names, masks):
        np.testing.assert_array_equal(back[name], mask)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def _legacy_csv(path, n_well0=3):
    rng = np.random.default_rng(1)
    rows = {format_name(0, p): rng.integers(0, 2, 1296) for p in range(n_well0)}
    rows |= {format_name(1, p): np.full(1296, p % 2) for p in range(616)}
    rows |= {format_name(2, p): np.zeros(1296, int) for p in range(4)}
    pd.DataFrame.from_dict(rows, orient="index").to_csv(path)


def test_legacy_release_is_fixed_with_a_warning(tmp_path):
    _legacy_csv(tmp_path / "y_train_legacy.csv")
    with pytest.warns(LegacyLabelsWarning, match="organisers' fix"):
        labels = read_labels(tmp_path / "y_train_legacy.csv")
    assert labels.legacy_fixed
    wells = [parse_name(n).well for n in labels.names]
    assert 0 not in wells
    assert sum(w == 1 for w in wells) == 166
    by_name = labels.as_dict()
    # old well_1_patch_451 (odd, ones) is the new well_1_patch_1
    assert by_name["well_1_patch_1"].all() and not by_name["well_1_patch_0"].any()
    assert "well_1_patch_166" not in by_name


def test_current_release_is_not_mistaken_for_legacy(dataset):
    labels = read_labels(dataset / "y_train.csv")
    assert not labels.legacy_fixed


# ---------------------------------------------------------------- every bad input


def _expect(match, fn, *args):
    with pytest.raises(CorrosegInputError, match=match) as info:
        fn(*args)
    return info.value


def test_truncated_npy(dataset):
    file = dataset / "x_train" / "well_2_patch_1.npy"
    file.write_bytes(file.read_bytes()[:300])
    err = _expect("unreadable .npy", read_images, dataset)
    assert err.path.endswith("well_2_patch_1.npy")


def test_not_an_npy_at_all(dataset):
    (dataset / "x_train" / "well_2_patch_1.npy").write_text("hello")
    _expect("unreadable .npy", read_images, dataset)


def test_pickled_object_array_is_refused(dataset):
    np.save(dataset / "x_train" / "well_2_patch_1.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    _expect("unreadable .npy", read_images, dataset)


def test_wrong_shape(dataset):
    np.save(dataset / "x_train" / "well_2_patch_1.npy", np.zeros((36, 35), np.float32))
    err = _expect(r"shape \(36, 35\)", read_images, dataset)
    assert "well_2_patch_1.npy" in str(err)


def test_wrong_dtype(dataset):
    np.save(dataset / "x_train" / "well_2_patch_1.npy", np.zeros((36, 36), np.int64))
    _expect("dtype int64", read_images, dataset)


def test_name_that_does_not_parse(dataset):
    np.save(dataset / "x_train" / "patch_1.npy", np.zeros((36, 36), np.float32))
    _expect("is not well_", read_images, dataset)


def test_gap_in_patch_numbers(dataset):
    (dataset / "x_train" / "well_2_patch_3.npy").unlink()
    _expect(r"well 2: patch numbers have gaps \(missing 3\)", read_images, dataset)


def test_empty_folder(tmp_path):
    (tmp_path / "x_train").mkdir()
    _expect("no well_", read_images, tmp_path)


def test_missing_dataset(tmp_path):
    _expect("no such file", read_images, tmp_path / "nope")
    _expect("no x_train/", read_images, tmp_path)


def test_duplicate_name_in_zip(dataset, tmp_path):
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(dataset / "x_train" / "well_2_patch_0.npy", "a/well_2_patch_0.npy")
        zf.write(dataset / "x_train" / "well_2_patch_0.npy", "b/well_2_patch_0.npy")
    _expect("duplicate patch name", read_images, archive)


def test_corrupt_zip(tmp_path):
    (tmp_path / "x.zip").write_bytes(b"PK not really")
    _expect("not a readable zip", read_images, tmp_path / "x.zip")


def _rewrite_labels(dataset, edit):
    path = dataset / "y_train.csv"
    frame = pd.read_csv(path, index_col=0, dtype=str)
    edit(frame).to_csv(path)
    return path


def test_labels_wrong_column_count(dataset):
    path = _rewrite_labels(dataset, lambda f: f.iloc[:, :1295])
    _expect("1295 mask columns, expected 1296", read_labels, path)


def test_labels_non_numeric(dataset):
    def edit(f):
        f.iloc[2, 7] = "abc"
        return f

    err = _expect("non-numeric value 'abc'", read_labels, _rewrite_labels(dataset, edit))
    assert "column 7" in str(err)


def test_labels_empty_cell_is_non_numeric(dataset):
    def edit(f):
        f.iloc[0, 0] = ""
        return f

    _expect("non-numeric", read_labels, _rewrite_labels(dataset, edit))


def test_labels_non_binary(dataset):
    def edit(f):
        f.iloc[1, 3] = "2"
        return f

    _expect("non-binary value 2", read_labels, _rewrite_labels(dataset, edit))


def test_labels_duplicate_names(dataset):
    path = _rewrite_labels(dataset, lambda f: pd.concat([f, f.iloc[:1]]))
    _expect("duplicate row name well_1_patch_0", read_labels, path)


def test_labels_bad_row_name(dataset):
    path = _rewrite_labels(dataset, lambda f: f.rename(index={"well_1_patch_0": "first"}))
    _expect("row name 'first'", read_labels, path)


def test_labels_not_a_csv(tmp_path):
    (tmp_path / "y.csv").write_bytes(b"")
    _expect("not a readable CSV", read_labels, tmp_path / "y.csv")


def test_several_label_files_are_ambiguous(dataset):
    shutil.copy(dataset / "y_train.csv", dataset / "y_train_other.csv")
    _expect("several label files", load_split, dataset)


def test_false_alarm_wells_are_one_named_constant():
    import corroseg.synth.realism as realism
    from corroseg.data.challenge import FALSE_ALARM_WELLS

    assert FALSE_ALARM_WELLS == (9, 10)
    assert realism.FALSE_ALARM_WELLS is FALSE_ALARM_WELLS and not hasattr(realism, "REAL_FALSE_ALARM_WELLS")
