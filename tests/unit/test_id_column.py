"""IdColumn: event ids in one buffer behave like the object array they replace."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.log import IdColumn

ids_lists = st.lists(
    st.one_of(
        st.sampled_from(["a", "b", "", "é", "line\nbreak", "lone \udcff surrogate"]),
        st.text(max_size=6),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(ids=ids_lists, data=st.data())
def test_an_id_column_reads_like_an_object_array(ids: list[str], data: st.DataObject) -> None:
    column = IdColumn.of(ids)
    array = np.empty(len(ids), object)
    array[:] = ids
    assert len(column) == len(ids)
    assert column.tolist() == ids and list(column) == ids
    assert np.asarray(column).tolist() == ids
    for i in range(-len(ids), len(ids)):
        assert column[i] == ids[i]
    lo = data.draw(st.integers(-3, len(ids) + 3))
    hi = data.draw(st.integers(-3, len(ids) + 3))
    step = data.draw(st.sampled_from([1, 2, -1]))
    assert column[lo:hi:step].tolist() == ids[lo:hi:step]
    if ids:
        at = data.draw(st.lists(st.integers(0, len(ids) - 1), max_size=10))
        assert column[np.array(at, np.int64)].tolist() == array[np.array(at, np.int64)].tolist()
        mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(ids), max_size=len(ids))))
        assert column[mask].tolist() == array[mask].tolist()
        wanted = data.draw(st.sampled_from(ids))
        # (not array == wanted: numpy turns "\x00" into "" on the way)
        assert (column == wanted).tolist() == [i == wanted for i in ids]
        assert (column != wanted).tolist() == [i != wanted for i in ids]
    assert (column == "never an id \n!").sum() == ("never an id \n!" in ids)
    assert column.hashes().tolist() == [hash(i) for i in ids]
    lines = column.lines()
    if any("\n" in i for i in ids):
        assert lines is None
    else:
        assert lines is not None and IdColumn.from_lines(lines, len(ids)) == column
    more = IdColumn.of(["z", *ids[:3]])
    assert column.concat(more).tolist() == [*ids, "z", *ids[:3]]


def test_out_of_range_and_bad_input() -> None:
    column = IdColumn.of(["a", "b"])
    with pytest.raises(IndexError):
        column[2]
    with pytest.raises(IndexError):
        column[np.array([0, 5])]
    with pytest.raises(TypeError, match="position 1 is int"):
        IdColumn.of(["a", 3])  # type: ignore[list-item]
    assert IdColumn.from_lines(b"a\nb", 3) is None  # the count says the text is damaged
    assert IdColumn.from_lines(b"", 0) == IdColumn.empty()
    assert IdColumn.from_lines(b"", 1) == IdColumn.of([""])
    same_width = IdColumn.from_lines(b"ab\ncd\nef", 3)
    assert same_width is not None and same_width.tolist() == ["ab", "cd", "ef"]
    assert same_width[2] == "ef" and (same_width == "ef").tolist() == [False, False, True]
    mixed = IdColumn.from_lines(b"a\nbcd\n", 3)
    assert mixed is not None and mixed.tolist() == ["a", "bcd", ""] and mixed[-1] == ""


def test_a_million_ids_take_their_bytes_not_a_str_object_each() -> None:
    ids = [f"{i:036d}" for i in range(100_000)]
    column = IdColumn.of(ids)
    assert column.nbytes < 100_000 * 46  # 37 bytes of text and 8 of offset per id


@settings(max_examples=50, deadline=None)
@given(at=st.lists(st.integers(0, 199), min_size=17, max_size=120))
def test_many_positions_read_like_one_at_a_time(at: list[int]) -> None:
    ids = [f"id-{i}-{'x' * (i % 7)}" for i in range(200)]
    column = IdColumn.of(ids)
    assert column[np.array(at, np.int64)].tolist() == [ids[i] for i in at]
    dense = sorted(set(at))
    assert column[np.array(dense, np.int64)].tolist() == [ids[i] for i in dense]
