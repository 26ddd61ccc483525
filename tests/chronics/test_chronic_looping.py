"""ChronicSet: lazy loading, cache, pypownet's looping modes, choice by name/index, start step."""

from __future__ import annotations

import numpy as np
import pytest
from chronics.chronic_factory import make_chronic

from gym_powergrid.chronics import ChronicSet, check_start_step, write_chronic
from gym_powergrid.errors import ChronicError

SIZES = (2, 3, 4)
NAMES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def chronics_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("chronics")
    for i, name in enumerate(reversed(NAMES)):  # written out of order on purpose
        write_chronic(make_chronic(name=name, seed=i), root / name)
    (root / ".hidden").mkdir()
    (root / "README.txt").write_text("not a chronic")
    return root


def _set(chronics_dir, mode="natural", **kw) -> ChronicSet:
    return ChronicSet(chronics_dir, *SIZES, looping_mode=mode, **kw)


def test_lists_sorted_sub_folders_and_reads_lazily(chronics_dir):
    cs = _set(chronics_dir)
    assert cs.names == tuple(NAMES) and len(cs) == 4
    assert not any(cs.is_loaded(n) for n in NAMES)
    c = cs["c"]
    assert c.name == "c" and cs.is_loaded(2) and not cs.is_loaded("a")
    assert cs[2] is c and cs[-2] is c  # cached, negative index


def test_max_cached_drops_least_recently_used(chronics_dir):
    cs = _set(chronics_dir, max_cached=2)
    cs["a"], cs["b"], cs["a"], cs["c"]
    assert cs.is_loaded("a") and cs.is_loaded("c") and not cs.is_loaded("b")
    cs.clear_cache()
    assert not cs.is_loaded("a")


def test_natural_mode(chronics_dir):
    cs = _set(chronics_dir)
    assert [cs.select()[0].name for _ in range(6)] == ["a", "b", "c", "d", "a", "b"]
    chronic, start = cs.select(chronic="c", start_step=3)
    assert (chronic.name, start) == ("c", 3)
    assert cs.select()[0].name == "d"  # natural continues after the chosen one


def test_fixed_mode(chronics_dir):
    cs = _set(chronics_dir, "fixed")
    assert [cs.select()[0].name for _ in range(3)] == ["a", "a", "a"]
    assert cs.select(chronic=2)[0].name == "c"
    assert [cs.select()[0].name for _ in range(3)] == ["c", "c", "c"]
    assert cs.current_index == 2


def test_random_mode_is_reproducible_with_a_seeded_generator(chronics_dir):
    def draw(seed):
        cs = _set(chronics_dir, "random")
        rng = np.random.default_rng(seed)
        return [cs.next_index(rng) for _ in range(20)]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)
    assert set(draw(7)) == {0, 1, 2, 3}
    cs = _set(chronics_dir, "random")
    assert cs.select(np.random.default_rng(0), chronic="b")[0].name == "b"
    assert 0 <= cs.next_index() < 4  # without a generator: works, not reproducible


def test_unknown_chronic_and_bad_start_step(chronics_dir):
    cs = _set(chronics_dir)
    with pytest.raises(ChronicError, match="unknown chronic 'bb'. Did you mean 'b'"):
        cs.select(chronic="bb")
    with pytest.raises(ChronicError, match="chronic index 4 out of range"):
        cs.select(chronic=4)
    with pytest.raises(ChronicError, match="by name .* or index"):
        cs.index(1.5)
    with pytest.raises(ChronicError, match="start_step 6 is outside chronic 'a'.*0 to 5"):
        cs.select(chronic="a", start_step=6)
    with pytest.raises(ChronicError, match="start_step must be an integer"):
        check_start_step(cs["a"], "2")
    assert check_start_step(cs["a"], np.int64(5)) == 5


def test_bad_folders_and_modes(tmp_path, chronics_dir):
    with pytest.raises(ChronicError, match="does not exist"):
        ChronicSet(tmp_path / "nope", *SIZES)
    with pytest.raises(ChronicError, match="holds no chronic sub-folder"):
        ChronicSet(tmp_path, *SIZES)
    with pytest.raises(ChronicError, match="unknown chronic looping mode 'loop'"):
        _set(chronics_dir, "loop")


def test_malformed_chronic_fails_when_used_not_before(tmp_path):
    write_chronic(make_chronic(name="good"), tmp_path / "good")
    write_chronic(make_chronic(name="zbad"), tmp_path / "zbad")
    (tmp_path / "zbad" / "hazards.csv").unlink()
    cs = ChronicSet(tmp_path, *SIZES)
    assert cs.select()[0].name == "good"
    with pytest.raises(ChronicError, match="missing chronic file.*hazards.csv"):
        cs.select()


def test_transform_and_read_options(chronics_dir):
    cs = _set(chronics_dir, transform=lambda c: c.take_columns(prod_idx=[1, 0]),
              dtype=np.float64)
    plain = _set(chronics_dir)
    np.testing.assert_allclose(cs["a"].prod_p_mw[:, 0], plain["a"].prod_p_mw[:, 1], rtol=1e-6)
    assert cs["a"].prod_p_mw.dtype == np.float64


def test_from_chronics_in_memory():
    chronics = [make_chronic(name=n, seed=i) for i, n in enumerate("xyz")]
    cs = ChronicSet.from_chronics(chronics, looping_mode="natural")
    assert cs.names == ("x", "y", "z") and cs["y"] is chronics[1]
    assert [cs.select()[0].name for _ in range(4)] == ["x", "y", "z", "x"]
    cs.clear_cache()
    assert cs["z"] is chronics[2]
    with pytest.raises(ChronicError, match="names must be unique"):
        ChronicSet.from_chronics([chronics[0], chronics[0]])
    with pytest.raises(ChronicError, match="at least one chronic"):
        ChronicSet.from_chronics([])
    with pytest.raises(ChronicError, match="load columns"):
        ChronicSet.from_chronics([chronics[0], make_chronic(name="w", n_load=5)])
