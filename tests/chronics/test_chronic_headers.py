"""Chronic headers are read and matched to the grid's names; values must fit float32 and a
plausible range (issue 13)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from chronics.chronic_factory import assert_same_chronic, make_chronic

from gym_powergrid.chronics import read_chronic, write_chronic
from gym_powergrid.errors import ChronicError

SIZES = (2, 3, 4)
NAMES = {"prod": ["g_a", "g_b"], "load": ["l_a", "l_b", "l_c"],
         "line": ["ln_a", "ln_b", "ln_c", "ln_d"]}


@pytest.fixture
def chronic():
    return make_chronic()


@pytest.fixture
def folder(tmp_path, chronic) -> Path:
    return write_chronic(chronic, tmp_path / "a", prod_names=NAMES["prod"],
                         load_names=NAMES["load"], line_names=NAMES["line"])


def _swap_columns(path: Path, i: int, j: int) -> None:
    lines = path.read_text().splitlines()
    out = []
    for line in lines:
        cells = line.split(";")
        cells[i], cells[j] = cells[j], cells[i]
        out.append(";".join(cells))
    path.write_text("\n".join(out) + "\n")


def _set_header(path: Path, header: str) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join([header, *lines[1:]]) + "\n")


def _set_cell(path: Path, line: int, col: int, text: str) -> None:
    lines = path.read_text().splitlines()
    cells = lines[line - 1].split(";")
    cells[col - 1] = text
    lines[line - 1] = ";".join(cells)
    path.write_text("\n".join(lines) + "\n")


def test_names_in_grid_order_read_as_written(folder, chronic):
    assert_same_chronic(read_chronic(folder, *SIZES, names=NAMES), chronic)


def test_columns_in_another_order_are_reordered_by_name_and_logged(folder, chronic, caplog):
    for name in ("_N_loads_p.csv", "maintenance.csv", "_N_imaps.csv", "_N_prods_v.csv"):
        _swap_columns(folder / name, 0, 1)
    with caplog.at_level(logging.INFO, logger="gym_powergrid.chronics.pypownet_format"):
        back = read_chronic(folder, *SIZES, names=NAMES)
    assert_same_chronic(back, chronic)
    assert sum("reordered by name" in r.getMessage() for r in caplog.records) == 4
    # without the grid's names, nothing can be matched: the values come by position
    swapped = read_chronic(folder, *SIZES)
    np.testing.assert_array_equal(swapped.load_p_mw[:, [1, 0, 2]], chronic.load_p_mw)


def test_renamed_column_is_an_error_naming_file_and_columns(folder):
    _set_header(folder / "_N_loads_q.csv", "l_a;l_x;l_c")
    with pytest.raises(ChronicError, match=r"_N_loads_q.csv: line 1 \(header\): column name\(s\) "
                                           r"'l_x' \(column 2\) are not loads of the grid; "
                                           r"missing \['l_b'\]"):
        read_chronic(folder, *SIZES, names=NAMES)


def test_duplicated_column_is_an_error(folder):
    _set_header(folder / "_N_prods_p.csv", "g_a;g_a")
    with pytest.raises(ChronicError, match=r"_N_prods_p.csv: line 1 \(header\): duplicated "
                                           r"column name\(s\) 'g_a' \(columns 1 and 2\)"):
        read_chronic(folder, *SIZES, names=NAMES)
    with pytest.raises(ChronicError, match="duplicated"):  # even without the grid's names
        read_chronic(folder, *SIZES)


def test_error_after_reordering_names_the_file_column(folder):
    _swap_columns(folder / "_N_loads_p.csv", 0, 2)
    _set_cell(folder / "_N_loads_p.csv", 3, 1, "-5")  # file column 1 is grid load l_c
    with pytest.raises(ChronicError, match=r"_N_loads_p.csv: line 3, column 1 \('l_c'\): "
                                           "negative load"):
        read_chronic(folder, *SIZES, names=NAMES)


def test_pypownet_and_default_positional_names_are_accepted(tmp_path, chronic):
    plain = write_chronic(chronic, tmp_path / "plain")  # prod0;prod1 / load0... headers
    assert_same_chronic(read_chronic(plain, *SIZES, names=NAMES), chronic)
    for name, header in (("_N_prods_p.csv", "1_G137.1;3_G36.31"),
                         ("_N_loads_p.csv", "2_C-10.61;3_C151.15;14_C63.6"),
                         ("hazards.csv", "1_2_1;1_5_2;2_3_3;2_4_4")):
        _set_header(plain / name, header)
    assert_same_chronic(read_chronic(plain, *SIZES, names=NAMES), chronic)


@pytest.mark.parametrize(("name", "value", "what"), [
    ("_N_loads_p.csv", "1e300", "float32"),
    ("_N_prods_p_planned.csv", "-1e39", "float32"),
    ("_N_loads_q.csv", "2e6", "plausible injection"),
])
def test_values_beyond_float32_or_plausible_are_errors_naming_the_cell(folder, name, value,
                                                                      what):
    _set_cell(folder / name, 4, 2, value)
    with pytest.raises(ChronicError, match=rf"{name}: line 4, column 2 \('[a-z_]+'\): .*{what}"):
        read_chronic(folder, *SIZES, names=NAMES)


def test_implausible_voltage_set_point_with_base_kv(folder):
    _set_cell(folder / "_N_prods_v.csv", 4, 2, "3.5")
    with pytest.raises(ChronicError, match=r"_N_prods_v.csv: line 4, column 2 .*set-point"):
        read_chronic(folder, *SIZES, names=NAMES, prod_v_base_kv=np.array([100.0, 100.0]))


def test_implausible_thermal_limit(folder):
    _set_cell(folder / "_N_imaps.csv", 2, 3, "1e9")
    with pytest.raises(ChronicError, match=r"_N_imaps.csv: line 2, column 3 .*thermal limit"):
        read_chronic(folder, *SIZES, names=NAMES)


def test_wrong_number_of_names(folder):
    with pytest.raises(ChronicError, match="1 prod names given for 2 prods"):
        read_chronic(folder, *SIZES, names={**NAMES, "prod": ["g_a"]})
