"""Native assignment solvers reproduce their Python references exactly.

``hrdecode._C.munkres114`` must return the same assignment as
``munkres.Munkres().compute`` from munkres==1.1.4, and ``hrdecode._C.lsap`` the
same as ``scipy.optimize.linear_sum_assignment``: the same row -> column pairs,
not merely an assignment of equal total cost. The decoder's cost matrices are
full of exact ties (``round(d) * 100 - val`` per row, padded with 1e10
columns), so which optimal assignment comes back is decided by each
reference's tie-breaking; the matrix families below are chosen so that tie
order matters (see ``test_families_exercise_tie_breaking``).

Both results are compared as ``row_to_col``: an int32 array of length R whose
entry r is the column given to row r, or -1 if row r gets no real column.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from hrdecode import _C

pytestmark = pytest.mark.oracle

#: munkres 1.1.x and 3.x break ties differently; parity is defined against this.
MUNKRES_VERSION = "1.1.4"

N_SMALL = 1000  # random shapes 0..12 x 0..12 per family
LARGE_SHAPES = [(30, 30), (40, 40), (40, 17), (17, 40), (25, 33), (33, 25)]


# --------------------------------------------------------------------------
# references
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def munkres_mod():
    mod = pytest.importorskip("munkres")
    version = getattr(mod, "__version__", "unknown")
    if version != MUNKRES_VERSION:
        pytest.skip(
            f"munkres {version} is installed; munkres114 parity is defined against "
            f"munkres=={MUNKRES_VERSION} (other versions break ties differently)"
        )
    return mod


@pytest.fixture(scope="module")
def linear_sum_assignment():
    opt = pytest.importorskip("scipy.optimize")
    return opt.linear_sum_assignment


def munkres_row_to_col(munkres_mod, cost: np.ndarray, *, as_numpy: bool = False) -> np.ndarray:
    """munkres 1.1.4's pairs as row_to_col.

    as_numpy=True hands munkres a numpy array, as HigherHRNet's and mmpose's
    ``_py_max_match`` do (munkres then updates the array's elements in place
    with numpy scalar arithmetic); otherwise a list of Python floats.
    """
    R, C = cost.shape
    out = np.full(R, -1, np.int32)
    if R == 0:  # munkres 1.1.4 indexes cost_matrix[0]; nothing to assign anyway
        return out
    matrix = cost.copy() if as_numpy else cost.tolist()
    for r, c in munkres_mod.Munkres().compute(matrix):
        assert out[r] == -1, "munkres returned two columns for one row"
        out[r] = c
    return out


def scipy_row_to_col(linear_sum_assignment, cost: np.ndarray) -> np.ndarray:
    out = np.full(cost.shape[0], -1, np.int32)
    rows, cols = linear_sum_assignment(cost)
    out[rows] = cols
    return out


# --------------------------------------------------------------------------
# matrix families (fixed seeds)
# --------------------------------------------------------------------------


def _tag_costs(rng, R, C):
    """HigherHRNet/mmpose grouping cost: round(tag distance) * 100 - detection value."""
    return np.round(rng.uniform(0.0, 2.5, (R, C))) * 100.0 - rng.uniform(0.1, 1.0, (R, 1))


def _pad_1e10(cost):
    R, C = cost.shape
    if R > C:  # the decoder pads so that every new keypoint can open a group
        cost = np.concatenate([cost, np.zeros((R, R - C)) + 1e10], axis=1)
    return cost


FAMILIES = {
    "hrnet_padded": lambda rng, R, C: _pad_1e10(_tag_costs(rng, R, C)),
    "hrnet_unpadded": _tag_costs,  # R > C left as is: padding columns / unassigned rows
    "all_equal": lambda rng, R, C: np.full((R, C), rng.choice([0.0, 1.0, -3.5, 1e10])),
    "int_0_2": lambda rng, R, C: rng.integers(0, 3, (R, C)).astype(np.float64),
    "int_hundreds": lambda rng, R, C: rng.integers(0, 4, (R, C)) * 100.0 - rng.integers(0, 2, (R, C)),
    "uniform": lambda rng, R, C: rng.uniform(0.0, 1.0, (R, C)),
    "normal": lambda rng, R, C: rng.normal(0.0, 100.0, (R, C)),
    "big_mixed": lambda rng, R, C: np.where(
        rng.uniform(size=(R, C)) < 0.4, 1e10, np.round(rng.uniform(0, 2.5, (R, C))) * 100 - rng.uniform(0.1, 1, (R, C))
    ),
    # Magnitudes where x + m - m != x in double: catches a solver that skips or
    # fuses munkres' two separate step-6 updates.
    "huge_magnitudes": lambda rng, R, C: rng.choice([1e15, 3e17, 1.0, 0.1, -1e12, 7e9], (R, C)),
}


def family_matrices(name: str, n_small: int = N_SMALL):
    seed = 1000 + sorted(FAMILIES).index(name)
    rng = np.random.default_rng(seed)
    shapes = [tuple(int(x) for x in rng.integers(0, 13, 2)) for _ in range(n_small)] + LARGE_SHAPES
    return [np.ascontiguousarray(FAMILIES[name](rng, R, C), dtype=np.float64) for R, C in shapes]


def assert_same(got, want, cost, what):
    got = np.asarray(got)
    if not np.array_equal(got, want):
        raise AssertionError(
            f"{what} differs on a {cost.shape} matrix\n got: {got.tolist()}\nwant: {want.tolist()}\n"
            f"cost = np.array({cost.tolist()!r})"
        )


def check_valid(row_to_col, R, C):
    row_to_col = np.asarray(row_to_col)
    assert row_to_col.dtype == np.int32 and row_to_col.shape == (R,)
    assigned = row_to_col[row_to_col >= 0]
    assert np.all(row_to_col >= -1) and np.all(row_to_col < max(C, 1))
    assert len(np.unique(assigned)) == len(assigned), "a column was used twice"
    assert len(assigned) == min(R, C)


# --------------------------------------------------------------------------
# parity on random families
# --------------------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_munkres114_matches_munkres_1_1_4(munkres_mod, family):
    for cost in family_matrices(family):
        got = _C.munkres114(cost)
        check_valid(got, *cost.shape)
        assert_same(got, munkres_row_to_col(munkres_mod, cost), cost, "munkres114")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_lsap_matches_scipy(linear_sum_assignment, family):
    for cost in family_matrices(family):
        got = _C.lsap(cost)
        check_valid(got, *cost.shape)
        assert_same(got, scipy_row_to_col(linear_sum_assignment, cost), cost, "lsap")


def test_munkres114_matches_numpy_input_reference(munkres_mod):
    """The decoders call munkres on a numpy array (in-place numpy float64 updates)."""
    for cost in family_matrices("hrnet_padded", 300):
        assert_same(_C.munkres114(cost), munkres_row_to_col(munkres_mod, cost, as_numpy=True), cost, "munkres114")


def test_families_exercise_tie_breaking(munkres_mod, linear_sum_assignment):
    """Guard against a toothless suite: on tie-heavy families the two references
    disagree often, so matching both pins down the tie order, not just optimality."""
    for family in ("hrnet_padded", "int_0_2", "all_equal"):
        mats = [c for c in family_matrices(family, 200) if min(c.shape) >= 2]
        differ = sum(
            not np.array_equal(munkres_row_to_col(munkres_mod, c), scipy_row_to_col(linear_sum_assignment, c))
            for c in mats
        )
        assert differ >= len(mats) // 10, f"{family}: references differ on only {differ}/{len(mats)}"


# --------------------------------------------------------------------------
# explicit cases (expected values written out, and checked against the references)
# --------------------------------------------------------------------------

EXPLICIT = [
    # (cost, munkres 1.1.4 row_to_col, scipy row_to_col)
    (np.zeros((0, 0)), [], []),
    (np.zeros((0, 4)), [], []),
    (np.zeros((3, 0)), [-1, -1, -1], [-1, -1, -1]),
    (np.array([[7.5]]), [0], [0]),
    (np.array([[3.0, 1.0, 2.0]]), [1], [1]),
    (np.array([[3.0], [1.0], [2.0]]), [-1, 0, -1], [-1, 0, -1]),
    (np.full((3, 3), 1.0), [0, 1, 2], [0, 1, 2]),
    (np.full((2, 4), 1.0), [0, 1], [0, 1]),
    # Tall all-ties: munkres pads columns with 0 and gives rows 1, 2 the padding;
    # scipy solves the transpose and leaves the last rows unassigned.
    (np.full((4, 2), 1.0), [0, -1, -1, 1], [0, 1, -1, -1]),
    (np.full((5, 3), 2.0), [0, -1, -1, 2, 1], [0, 1, 2, -1, -1]),
    # Equal-cost optima where the two references pick different assignments.
    (np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]), [2, 1, 0], [0, 2, 1]),
    (np.array([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 0.0]]), [0, 2, 1], [0, 1, 2]),
    # A grouping step: 3 new keypoints, 2 groups, padded with a 1e10 column.
    (np.array([[99.5, 99.5, 1e10], [-0.7, -0.7, 1e10], [199.7, -0.3, 1e10]]), [2, 0, 1], [2, 0, 1]),
]


def _explicit(idx):
    cost, want_m, want_l = EXPLICIT[idx]
    return cost, np.array(want_m, np.int32), np.array(want_l, np.int32)


@pytest.mark.parametrize("idx", range(len(EXPLICIT)))
def test_explicit_cases(idx):
    cost, want_m, want_l = _explicit(idx)
    got_m = _C.munkres114(cost)
    got_l = _C.lsap(cost)
    check_valid(got_m, *cost.shape)
    check_valid(got_l, *cost.shape)
    assert_same(got_m, want_m, cost, "munkres114")
    assert_same(got_l, want_l, cost, "lsap")


def test_explicit_expectations_are_munkres_1_1_4(munkres_mod):
    for idx in range(len(EXPLICIT)):
        cost, want_m, _ = _explicit(idx)
        assert_same(munkres_row_to_col(munkres_mod, cost), want_m, cost, "written-out munkres expectation")


def test_explicit_expectations_are_scipy(linear_sum_assignment):
    for idx in range(len(EXPLICIT)):
        cost, _, want_l = _explicit(idx)
        assert_same(scipy_row_to_col(linear_sum_assignment, cost), want_l, cost, "written-out scipy expectation")


def test_inputs_not_modified():
    rng = np.random.default_rng(5)
    for shape in [(4, 7), (7, 4), (6, 6)]:
        cost = _tag_costs(rng, *shape)
        before = cost.copy()
        _C.munkres114(cost)
        _C.lsap(cost)
        assert np.array_equal(cost, before)


def test_non_contiguous_input_is_read_correctly():
    """A strided or Fortran-ordered view must either be read correctly or refused."""
    rng = np.random.default_rng(6)
    base = _tag_costs(rng, 9, 14)
    views = [base.T, base[:, ::2], np.asfortranarray(base), base[::-1]]
    for fn in (_C.munkres114, _C.lsap):
        for view in views:
            want = fn(np.ascontiguousarray(view))
            try:
                got = fn(view)
            except (TypeError, ValueError):
                continue
            assert_same(got, want, view, fn.__name__)


def test_concurrent_calls_agree_with_serial():
    mats = family_matrices("hrnet_padded", 150) + family_matrices("int_0_2", 150)
    serial = [(_C.munkres114(c), _C.lsap(c)) for c in mats]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda c: (_C.munkres114(c), _C.lsap(c)), mats * 2))
    for (m1, l1), (m2, l2) in zip(serial * 2, parallel):
        assert np.array_equal(m1, m2) and np.array_equal(l1, l2)


# --------------------------------------------------------------------------
# error paths
# --------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("solver", ["munkres114", "lsap"])
@pytest.mark.parametrize("where", [(0, 0), (2, 3)])
def test_non_finite_cost_raises(solver, bad, where):
    cost = np.arange(12, dtype=np.float64).reshape(3, 4)
    cost[where] = bad
    with pytest.raises(ValueError):
        getattr(_C, solver)(cost)


def test_munkres114_gives_up_instead_of_hanging():
    """munkres 1.1.4 seeds its step-6 minimum with sys.maxsize, so when every
    uncovered value exceeds 2**63 it subtracts 2**63 forever (1e300 - 2**63 ==
    1e300). The port must stop at its iteration cap and report an error."""
    with pytest.raises(ValueError):
        _C.munkres114(np.array([[0.0, 1e300], [0.0, 1e300]]))
    # the same matrix is an ordinary problem for lsap
    assert np.array_equal(_C.lsap(np.array([[0.0, 1e300], [0.0, 1e300]])), [0, 1])
