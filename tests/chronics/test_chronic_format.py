"""pypownet chronic folders: round trips and every validation error, by file, line and column."""

from __future__ import annotations

import gzip
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from chronics.chronic_factory import assert_same_chronic, make_chronic

from gym_powergrid.chronics import CHRONIC_FILES, Chronic, read_chronic, write_chronic
from gym_powergrid.errors import ChronicError

SIZES = (2, 3, 4)  # n_prod, n_load, n_line of make_chronic()


def _read(folder, **kw) -> Chronic:
    return read_chronic(folder, *SIZES, **kw)


def _edit(folder: Path, name: str, line: int, text: str | None) -> None:
    """Replace (or delete, when text is None) 1-based ``line`` of a chronic file."""
    path = folder / name
    lines = path.read_text().split("\n")
    if text is None:
        del lines[line - 1]
    else:
        lines[line - 1] = text
    path.write_text("\n".join(lines))


def _error(folder, match_all: list[str], **kw) -> str:
    with pytest.raises(ChronicError) as info:
        _read(folder, **kw)
    msg = str(info.value)
    for part in match_all:
        assert part in msg, f"{part!r} not in message: {msg}"
    return msg


@pytest.fixture
def folder(tmp_path) -> Path:
    return write_chronic(make_chronic(), tmp_path / "a")


# ---------------------------------------------------------------------- round trips
@pytest.mark.parametrize("compression", [None, "gzip", "bz2"])
def test_round_trip(tmp_path, compression):
    chronic = make_chronic(n_steps=30)
    folder = write_chronic(chronic, tmp_path / "x", compression=compression)
    suffix = {None: ".csv", "gzip": ".csv.gz", "bz2": ".csv.bz2"}[compression]
    assert sorted(p.name for p in folder.iterdir()) == sorted(f + suffix[4:] for f in
                                                              CHRONIC_FILES)
    back = _read(folder)
    assert_same_chronic(chronic, back)
    assert back.name == "x" and back.source == folder
    assert back.prod_p_mw.dtype == np.float32 and back.maintenance.dtype == np.int32
    assert back.timestep == np.timedelta64(60, "m") and back.timestep_seconds == 3600.0


def test_round_trip_float64_exact_including_long_numbers(tmp_path):
    chronic = make_chronic(dtype=np.float64)
    rng = np.random.default_rng(3)
    noisy = chronic.with_values(load_q_mvar=rng.normal(size=chronic.load_q_mvar.shape))
    folder = write_chronic(noisy, tmp_path / "x")
    # 17-digit values go through the exact fallback parser
    assert len(folder.joinpath("_N_loads_q.csv").read_text().split("\n")[1]) > 40
    assert_same_chronic(noisy, _read(folder, dtype=np.float64))


def test_written_files_follow_pypownet_layout(tmp_path):
    chronic = make_chronic(n_steps=3)
    folder = write_chronic(chronic, tmp_path / "x", prod_names=["g;1", "g2"])
    assert (folder / "_N_datetimes.csv").read_text() == (
        "date;time\n2018-jan-31;8:00\n2018-jan-31;9:00\n2018-jan-31;10:00\n")
    assert (folder / "_N_simu_ids.csv").read_text() == "id\n0\n1\n2\n"
    assert (folder / "_N_prods_p.csv").read_text().startswith("g_1;g2\n")
    assert (folder / "maintenance.csv").read_text().split("\n")[0] == "line0;line1;line2;line3"
    assert len((folder / "_N_imaps.csv").read_text().strip().split("\n")) == 2


def test_compressed_output_is_reproducible(tmp_path):
    chronic = make_chronic()
    a = write_chronic(chronic, tmp_path / "a", compression="gzip")
    b = write_chronic(chronic, tmp_path / "b", compression="gzip")
    for name in CHRONIC_FILES:
        assert (a / (name + ".gz")).read_bytes() == (b / (name + ".gz")).read_bytes()


def test_rewriting_with_other_compression_removes_stale_files(tmp_path):
    folder = write_chronic(make_chronic(), tmp_path / "a")
    write_chronic(make_chronic(seed=5), folder, compression="bz2")
    assert not list(folder.glob("*.csv"))
    assert_same_chronic(make_chronic(seed=5), _read(folder))


def test_float_format_and_kv_voltages(tmp_path):
    chronic = make_chronic()
    base = np.array([100.0, 20.0])
    folder = write_chronic(chronic, tmp_path / "a", float_format="%.3f", prod_v_base_kv=base)
    first = (folder / "_N_prods_v.csv").read_text().split("\n")[1].split(";")
    assert float(first[0]) > 90 and float(first[1]) > 18  # kV in the file
    back = _read(folder, prod_v_base_kv=base)
    np.testing.assert_allclose(back.prod_v_pu, chronic.prod_v_pu, rtol=1e-6)
    np.testing.assert_allclose(back.prod_p_mw, chronic.prod_p_mw, atol=1e-3)


def test_kv_voltages_without_base_are_kept_with_a_warning(tmp_path, caplog):
    folder = write_chronic(make_chronic(), tmp_path / "a", prod_v_base_kv=np.array([100, 100]))
    with caplog.at_level(logging.WARNING):
        back = _read(folder)
    assert back.prod_v_pu.min() > 90
    assert "look like kV" in caplog.text


def test_voltage_neither_pu_nor_kv(folder):
    _edit(folder, "_N_prods_v.csv", 2, "30;1.0")
    _edit(folder, "_N_prods_v.csv", 3, "30;1.0")
    _edit(folder, "_N_prods_v.csv", 4, "30;1.0")
    _error(folder, ["_N_prods_v.csv", "column 1", "neither p.u."],
           prod_v_base_kv=np.array([100.0, 100.0]))


def test_seed_documentation_example(tmp_path):
    """The 2-production, 2-load example of pypownet's documentation, with its spacing."""
    folder = tmp_path / "doc"
    folder.mkdir()
    files = {
        "_N_prods_p.csv": "prod0;prod1\n10;5\n11;6\n12;6.4\n",
        "_N_prods_v.csv": "prod0;prod1\n1;1\n1;1\n1;1\n",
        "_N_loads_p.csv": "load0;load1\n7;8\n9;8.4\n11;7\n",
        "_N_loads_q.csv": "load0;load1\n-2;3\n-2;4\n0;-1\n",
        "_N_prods_p_planned.csv": "prod0;prod1\n10.9;5.8\n12.9;6.3\n12;6\n",
        "_N_prods_v_planned.csv": "prod0;prod1\n1;1\n1;1\n1;1\n",
        "_N_loads_p_planned.csv": "load0;load1\n7;8\n9;8\n11;7\n",
        "_N_loads_q_planned.csv": "load0;load1\n-2;3\n-2;4\n0;-1\n",
        "maintenance.csv": "lines0;line1;line2;line3\n1;0;0;0\n0;0;0;0\n0;2;0;3\n",
        "hazards.csv": "line0;line1;line2;line3\n0;0;0;0\n0;0;0;0\n0;0;1;0\n",
        "_N_datetimes.csv": (" date;time\n 2018-jan-31;8:00\n 2018-jan-31;9:00\n"
                             " 2018-Jan-31;10:00\n"),
        "_N_simu_ids.csv": " id\n 0\n 1\n 2\n",
        "_N_imaps.csv": " line0;line1;line2;line3\n 30;90;100;50\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    chronic = read_chronic(folder, 2, 2, 4)
    assert chronic.n_steps == 3 and chronic.timestep_seconds == 3600
    np.testing.assert_array_equal(chronic.prod_p_mw[2], np.float32([12, 6.4]))
    np.testing.assert_array_equal(chronic.maintenance[2], [0, 2, 0, 3])
    np.testing.assert_array_equal(chronic.line_limit_a, [30, 90, 100, 50])
    assert str(chronic.datetimes[2]) == "2018-01-31T10:00"


def test_crlf_bom_and_blank_lines_are_accepted(folder):
    path = folder / "_N_loads_p.csv"
    text = path.read_text()
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode() + b"\r\n\r\n")
    assert_same_chronic(make_chronic(), _read(folder))


def test_blank_line_in_the_middle_keeps_line_numbers_right(folder):
    path = folder / "_N_loads_p.csv"
    lines = path.read_text().split("\n")
    lines.insert(2, "")  # blank line 3; data row 2 is now file line 4
    lines[3] = "1;-2;3"
    path.write_text("\n".join(lines))
    _error(folder, ["_N_loads_p.csv", "line 4, column 2", "negative load"])


# ---------------------------------------------------------------------- validation errors
def test_missing_folder(tmp_path):
    _error(tmp_path / "nope", ["does not exist"])


def test_missing_files(folder):
    (folder / "maintenance.csv").unlink()
    (folder / "_N_imaps.csv").unlink()
    _error(folder, ["missing chronic file(s)", "maintenance.csv", "_N_imaps.csv"])


def test_same_file_in_two_compressions(folder):
    data = (folder / "hazards.csv").read_bytes()
    (folder / "hazards.csv.gz").write_bytes(gzip.compress(data))
    _error(folder, ["hazards.csv", "several times"])


def test_corrupt_compressed_file(folder):
    (folder / "hazards.csv").unlink()
    (folder / "hazards.csv.gz").write_bytes(b"not gzip at all")
    _error(folder, ["hazards.csv.gz", "cannot read or decompress"])


def test_header_column_count_against_grid(folder):
    with pytest.raises(ChronicError, match=r"_N_loads_p\.csv: line 1 \(header\) has 3 columns "
                                           r"but the grid has 4 loads"):
        read_chronic(folder, 2, 4, 4)
    with pytest.raises(ChronicError, match=r"_N_prods_p\.csv: line 1 \(header\) has 2 columns "
                                           r"but the grid has 1 prods"):
        read_chronic(folder, 1, 3, 4)
    with pytest.raises(ChronicError, match=r"maintenance\.csv: line 1 \(header\) has 4 columns "
                                           r"but the grid has 5 lines"):
        read_chronic(folder, 2, 3, 5)


def test_row_with_too_many_values(folder):
    _edit(folder, "_N_loads_q.csv", 4, "1;2;3;4")
    _error(folder, ["_N_loads_q.csv", "line 4", "4 values, expected 3"])


def test_row_with_too_few_values(folder):
    _edit(folder, "maintenance.csv", 3, "0;0;0")
    _error(folder, ["maintenance.csv", "line 3", "3 values, expected 4"])


def test_non_numeric_value(folder):
    _edit(folder, "_N_loads_p.csv", 3, "1;abc;3")
    _error(folder, ["_N_loads_p.csv", "line 3, column 2 ('load1')", "non-numeric", "'abc'"])


def test_non_numeric_value_in_event_file(folder):
    _edit(folder, "hazards.csv", 5, "0;0;x;0")
    _error(folder, ["hazards.csv", "line 5, column 3", "non-numeric"])


def test_empty_value(folder):
    _edit(folder, "_N_prods_p_planned.csv", 2, "1;")
    _error(folder, ["_N_prods_p_planned.csv", "line 2, column 2", "empty value"])


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf"])
def test_nan_and_infinite_values(folder, bad):
    _edit(folder, "_N_prods_p.csv", 6, f"{bad};1")
    _error(folder, ["_N_prods_p.csv", "line 6, column 1", "NaN or infinite", bad])


@pytest.mark.parametrize("name", ["_N_loads_p.csv", "_N_loads_p_planned.csv"])
def test_negative_load_p(folder, name):
    _edit(folder, name, 5, "1;2;-0.5")
    _error(folder, [name, "line 5, column 3", "negative load active power", "-0.5"])


def test_negative_load_q_is_fine(folder):
    _edit(folder, "_N_loads_q.csv", 5, "-1;-2;-0.5")
    assert _read(folder).load_q_mvar[3].tolist() == [-1, -2, -0.5]


@pytest.mark.parametrize("name", ["_N_prods_v.csv", "_N_prods_v_planned.csv"])
def test_non_positive_production_voltage(folder, name):
    _edit(folder, name, 2, "1.0;0")
    _error(folder, [name, "line 2, column 2", "non-positive production voltage"])
    _edit(folder, name, 2, "-1;1.0")
    _error(folder, [name, "line 2, column 1", "non-positive production voltage"])


def test_production_off_marker_accepted_on_request(folder):
    _edit(folder, "_N_prods_v.csv", 3, "-1;1.0")
    chronic = _read(folder, allow_prod_off=True)
    assert chronic.prod_off_mask[1].tolist() == [True, False]
    assert chronic.prod_off_mask.sum() == 1


@pytest.mark.parametrize("bad", ["1.5", "-1"])
def test_events_must_be_non_negative_integers(folder, bad):
    _edit(folder, "maintenance.csv", 4, f"0;0;{bad};0")
    _error(folder, ["maintenance.csv", "line 4, column 3", "non-negative integer"])


def test_thermal_limits(folder):
    _edit(folder, "_N_imaps.csv", 2, "10;0;5;5")
    _error(folder, ["_N_imaps.csv", "line 2, column 2", "non-positive thermal limit"])
    _edit(folder, "_N_imaps.csv", 2, "10;1;5;5\n10;1;5;5")
    _error(folder, ["_N_imaps.csv", "2 data rows", "exactly one"])


def test_duplicate_simu_ids(folder):
    _edit(folder, "_N_simu_ids.csv", 4, "1")
    _error(folder, ["_N_simu_ids.csv", "line 4, column 1", "duplicate timestep id"])


@pytest.mark.parametrize("name", ["_N_prods_v.csv", "hazards.csv", "_N_simu_ids.csv"])
def test_row_counts_must_agree(folder, name):
    _edit(folder, name, 7, None)
    _error(folder, [name, "5 data rows", "_N_datetimes.csv has 6"])


def test_no_data_rows(folder):
    (folder / "_N_loads_q.csv").write_text("load0;load1;load2\n")
    _error(folder, ["_N_loads_q.csv", "no data row"])


@pytest.mark.parametrize("text, what", [
    ("2018-01-31;10:00", "does not parse"),
    ("2018-foo-31;10:00", "does not parse"),
    ("2018-jan-31 10:00", "does not parse"),
    ("31-jan-2018;10:00", "does not parse"),
    ("2018-feb-30;10:00", "does not exist"),
    ("2018-jan-31;24:00", "does not exist"),
    ("2018-jan-31;10:60", "does not exist"),
])
def test_dates_that_do_not_parse(folder, text, what):
    _edit(folder, "_N_datetimes.csv", 4, text)
    msg = _error(folder, ["_N_datetimes.csv", "line 4", what])
    assert repr(text) in msg


@pytest.mark.parametrize("text", ["2018-jan-31;9:00", "2018-jan-31;8:30", "2017-dec-31;23:00"])
def test_dates_must_strictly_increase(folder, text):
    _edit(folder, "_N_datetimes.csv", 4, text)  # after 9:00 on line 3
    _error(folder, ["_N_datetimes.csv", "line 4", "does not come after", "(line 3)"])


def test_date_header_is_mandatory(folder):
    _edit(folder, "_N_datetimes.csv", 1, "2018-jan-31;7:00")
    _error(folder, ["_N_datetimes.csv", "line 1 must be the header"])


def test_time_with_semicolon_typo_is_read_with_a_warning(folder, caplog):
    # pypownet's own default14/level0/chronics/a has "2012-jan-1;1;00"
    _edit(folder, "_N_datetimes.csv", 3, "2018-jan-31;9;00")
    with caplog.at_level(logging.WARNING):
        chronic = _read(folder)
    assert str(chronic.datetimes[1]) == "2018-01-31T09:00"
    assert re.search(r"_N_datetimes\.csv: line 3: time .* uses ';'", caplog.text)


def test_irregular_but_increasing_dates_are_fine(folder):
    _edit(folder, "_N_datetimes.csv", 7, "2018-feb-1;0:05")
    chronic = _read(folder)
    assert str(chronic.datetimes[-1]) == "2018-02-01T00:05"
    assert chronic.timestep_seconds == 3600


# ---------------------------------------------------------------------- in-memory chronics
def test_chronic_arrays_are_read_only():
    chronic = make_chronic()
    with pytest.raises(ValueError):
        chronic.load_p_mw[0, 0] = 1.0


def test_validate_in_memory_chronic():
    chronic = make_chronic()
    assert chronic.validate(*SIZES) is chronic
    with pytest.raises(ChronicError, match="3 load columns but the grid has 5 loads"):
        chronic.validate(2, 5, 4)
    bad = chronic.with_values(load_p_mw=np.where(np.arange(3) == 1, -1.0, chronic.load_p_mw))
    with pytest.raises(ChronicError, match=r"load_p_mw has a negative load .* step 0, column 1"):
        bad.validate()
    nan = chronic.with_values(prod_p_planned_mw=np.full((6, 2), np.nan))
    with pytest.raises(ChronicError, match="prod_p_planned_mw has a NaN"):
        nan.validate()
    back = chronic.with_values(datetimes=chronic.datetimes[::-1])
    with pytest.raises(ChronicError, match="do not strictly increase at step 1"):
        back.validate()


def test_shape_errors_in_memory():
    chronic = make_chronic()
    with pytest.raises(ChronicError, match="load_q_mvar has 2 columns"):
        chronic.with_values(load_q_mvar=np.zeros((6, 2)))
    with pytest.raises(ChronicError, match="maintenance has shape"):
        chronic.with_values(maintenance=np.zeros((5, 4)))


def test_take_columns_and_steps():
    chronic = make_chronic()
    swapped = chronic.take_columns(prod_idx=[1, 0], line_idx=[3, 2, 1, 0])
    np.testing.assert_array_equal(swapped.prod_p_mw[:, 0], chronic.prod_p_mw[:, 1])
    np.testing.assert_array_equal(swapped.line_limit_a, chronic.line_limit_a[::-1])
    np.testing.assert_array_equal(swapped.hazards[:, 3], chronic.hazards[:, 0])
    part = chronic.steps(2, 5)
    assert part.n_steps == 3 and part.datetimes[0] == chronic.datetimes[2]
    assert make_chronic(n_steps=1).timestep == np.timedelta64(60, "m")


def test_pypownet_row_count_quirk_truncates_like_pypownet(folder, caplog):
    """pypownet zips its files row by row: its own default14 has one simu id fewer than dates,
    default118 more injection rows than dates. With truncate_to_shortest the shortest wins."""
    full = _read(folder)
    _edit(folder, "_N_simu_ids.csv", 7, None)  # last id missing, as in default14
    with caplog.at_level(logging.WARNING, logger="gym_powergrid.chronics.pypownet_format"):
        c = _read(folder, truncate_to_shortest=True)
        _read(folder, truncate_to_shortest=True)
    assert c.n_steps == full.n_steps - 1
    np.testing.assert_array_equal(c.load_p_mw, full.load_p_mw[:-1])
    np.testing.assert_array_equal(c.datetimes, full.datetimes[:-1])
    warnings = [r for r in caplog.records if "row counts" in r.getMessage()]
    assert len(warnings) == 1 and "_N_datetimes.csv" in warnings[0].getMessage()
    # still strict by default, and other problems still raise with truncation on
    _error(folder, ["_N_simu_ids.csv", "5 data rows", "_N_datetimes.csv has 6"])
    _edit(folder, "_N_loads_p.csv", 3, "1;nan;2")
    _error(folder, ["_N_loads_p.csv", "line 3"], truncate_to_shortest=True)
