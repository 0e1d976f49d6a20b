import numpy as np
import pytest

from corroseg.data.splits import well_train_val_split

WELLS = np.repeat([1, 2, 3, 4, 5, 6, 7], [10, 3, 50, 8, 20, 7, 2])


def test_train_val_split_by_well():
    train, val = well_train_val_split(WELLS, val_wells=[2, 6])
    assert set(WELLS[val]) == {2, 6} and not {2, 6} & set(WELLS[train])
    assert len(train) + len(val) == len(WELLS)
    t1, v1 = well_train_val_split(WELLS, seed=3)
    t2, v2 = well_train_val_split(WELLS, seed=3)
    assert np.array_equal(v1, v2) and len(v1) > 0
    assert not set(WELLS[t1]) & set(WELLS[v1])
    with pytest.raises(ValueError, match="not in the data"):
        well_train_val_split(WELLS, val_wells=[42])
