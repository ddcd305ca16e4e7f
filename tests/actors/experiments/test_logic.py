"""Pure experiment logic: GrowthBook hashing and bucketing, assignment, the SRM test,
definition validation."""

from __future__ import annotations

import math

import pytest
from fnv_hash_fast import fnv1a_32

from actors.errors import InvalidParams
from actors.experiments.hashing import bucket_ranges, choose_variant, hash_v2
from actors.experiments.model import (
    MAX_VARIANTS,
    MAX_WEIGHT,
    Experiment,
    Variant,
    create_experiment,
    parse_variants,
    update_experiment,
    validate_coverage,
    validate_experiment_id,
    with_weights,
)
from actors.experiments.stats import (
    chi2_sf,
    chi_square_srm,
    experiment_stats,
    gamma_q,
    srm_detected,
)
from actors.experiments.table import Assignment
from tests.actors.experiments.oracle import assign

NOW = 1_700_000_000.0


def make(variants: object = ("a", "b"), **params: object) -> Experiment:
    return create_experiment(
        {"id": "exp-1", "name": "Experiment", "variants": list(variants), **params}, NOW  # type: ignore[call-overload]
    )


def user_ids(n: int) -> list[str]:
    return [f"user-{i:06d}" for i in range(n)]


# ---------------------------------------------------------------------- hashing


@pytest.mark.parametrize(
    ("value", "expected"),
    # The FNV-1a 32-bit test vectors of the reference implementation.
    [("", 0x811C9DC5), ("a", 0xE40C292C), ("foobar", 0xBF9CF968)],
)
def test_fnv1a32_reference_vectors(value: str, expected: int) -> None:
    assert fnv1a_32(value.encode()) == expected


def test_hash_v2_hashes_text_as_utf8() -> None:
    inner = fnv1a_32("seedünï".encode())
    assert hash_v2("seed", "ünï") == (fnv1a_32(str(inner).encode()) % 10000) / 10000


@pytest.mark.parametrize(
    ("seed", "value", "expected"),
    # GrowthBook's SDK spec (cases.json, "hash" with version 2).
    [
        ("seed", "a", 0.0505),
        ("seed", "b", 0.2696),
        ("foo", "ab", 0.2575),
        ("foo", "def", 0.2019),
        ("89123klj", "8952klfjas09ujkasdf", 0.124),
        ("90850943850283058242805", "123", 0.7516),
        ("()**(%$##$%#$#", '___)((*":&', 0.0128),
    ],
)
def test_hash_v2_matches_growthbook(seed: str, value: str, expected: float) -> None:
    assert hash_v2(seed, value) == expected


def test_hash_v2_is_in_unit_interval() -> None:
    values = [hash_v2("s", u) for u in user_ids(5000)]
    assert all(0 <= v < 1 for v in values)
    assert 0.45 < sum(values) / len(values) < 0.55


@pytest.mark.parametrize(
    ("args", "expected"),
    # GrowthBook's SDK spec (cases.json, "getBucketRange").
    [
        ((2, 1, None), [(0, 0.5), (0.5, 1)]),
        ((2, 0.5, None), [(0, 0.25), (0.5, 0.75)]),
        ((2, 0, None), [(0, 0), (0.5, 0.5)]),
        ((4, 1, None), [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
        ((2, 1, [0.4, 0.6]), [(0, 0.4), (0.4, 1)]),
        ((3, 1, [0.2, 0.3, 0.5]), [(0, 0.2), (0.2, 0.5), (0.5, 1)]),
        ((3, 0.2, [0.2, 0.3, 0.5]), [(0, 0.04), (0.2, 0.26), (0.5, 0.6)]),
        ((2, -0.2, None), [(0, 0), (0.5, 0.5)]),
        ((2, 1.5, None), [(0, 0.5), (0.5, 1)]),
        ((2, 1, [0.4, 0.1]), [(0, 0.5), (0.5, 1)]),
        ((2, 1, [0.7, 0.6]), [(0, 0.5), (0.5, 1)]),
        ((4, 1, [0.4, 0.4, 0.2]), [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1)]),
        ((2, 1, [0.4, 0.5999]), [(0, 0.4), (0.4, 0.9999)]),
    ],
)
def test_bucket_ranges_match_growthbook(args: tuple, expected: list) -> None:
    ranges = bucket_ranges(*args)
    assert len(ranges) == len(expected)
    for got, want in zip(ranges, expected):
        assert got == pytest.approx(want)


@pytest.mark.parametrize(
    ("n", "ranges", "expected"),
    [
        (0.2, [(0, 0.5), (0.5, 1)], 0),
        (0.5, [(0, 0.5), (0.5, 1)], 1),  # start inclusive
        (0.0, [(0, 0.5), (0.5, 1)], 0),
        (0.9999, [(0, 0.5), (0.5, 1)], 1),
        (0.3, [(0, 0.25), (0.5, 0.75)], -1),  # between trimmed arms
        (0.25, [(0, 0.25), (0.5, 0.75)], -1),  # end exclusive
        (0.8, [(0, 0.25), (0.5, 0.75)], -1),
        (0.5, [(0, 0), (0.5, 0.5)], -1),  # zero coverage
    ],
)
def test_choose_variant(n: float, ranges: list, expected: int) -> None:
    assert choose_variant(n, ranges) == expected


# ------------------------------------------------------------------- assignment


@pytest.mark.parametrize(
    ("variants", "weights"),
    [
        (["control", "treatment"], [0.5, 0.5]),
        ([{"name": "a", "weight": 20}, {"name": "b", "weight": 30}, {"name": "c", "weight": 50}],
         [0.2, 0.3, 0.5]),
    ],
)
def test_weights_are_honoured_for_100k_users(variants: list, weights: list) -> None:
    experiment = make(variants)
    names = experiment.variant_names
    counts = dict.fromkeys(names, 0)
    for uid in user_ids(100_000):
        result = assign(experiment, uid)
        assert result.in_experiment
        counts[result.variant] += 1
    observed = [counts[n] for n in names]
    _, p_value = chi_square_srm(observed, weights)
    assert p_value > 0.001, observed
    for n, w in zip(names, weights):
        assert counts[n] / 100_000 == pytest.approx(w, abs=0.01)


def test_same_user_same_variant_on_every_node() -> None:
    # Two independently built definitions stand for two nodes.
    node_a = make(["a", "b", "c"])
    node_b = Experiment.from_dict(make(["a", "b", "c"]).to_dict())
    for uid in user_ids(2000):
        assert assign(node_a, uid) == assign(node_b, uid) == assign(node_a, uid)


def test_inactive_experiment_answers_first_variant_outside() -> None:
    experiment = make(["a", "b"], active=False)
    for uid in user_ids(200):
        assert assign(experiment, uid) == Assignment("a", False)


def test_zero_coverage_puts_everyone_outside() -> None:
    experiment = make(["a", "b"], coverage=0)
    for uid in user_ids(500):
        assert assign(experiment, uid) == Assignment("a", False)


def test_empty_user_id_is_outside() -> None:
    assert assign(make(), "") == Assignment("a", False)


def test_coverage_admits_its_share_and_the_rest_get_the_first_variant() -> None:
    experiment = make(["a", "b"], coverage=0.3)
    results = [assign(experiment, uid) for uid in user_ids(20_000)]
    inside = [r for r in results if r.in_experiment]
    assert len(inside) / len(results) == pytest.approx(0.3, abs=0.015)
    assert all(r.variant == "a" for r in results if not r.in_experiment)
    b_share = sum(r.variant == "b" for r in inside) / len(inside)
    assert b_share == pytest.approx(0.5, abs=0.03)


def test_raising_coverage_only_adds_users() -> None:
    variants = [{"name": "a", "weight": 1}, {"name": "b", "weight": 2}, {"name": "c", "weight": 1}]
    uids = user_ids(10_000)
    previous: dict[str, str] = {}
    for coverage in (0.0, 0.1, 0.25, 0.5, 0.9, 1.0):
        experiment = make(variants, coverage=coverage)
        current = {}
        for uid in uids:
            result = assign(experiment, uid)
            if result.in_experiment:
                current[uid] = result.variant
        for uid, variant in previous.items():
            assert current.get(uid) == variant, (coverage, uid)
        assert len(current) >= len(previous)
        previous = current
    assert len(previous) == len(uids)


def test_sticky_variant_survives_a_weight_change() -> None:
    before = make(["a", "b"])
    after = update_experiment(
        before, {"variants": [{"name": "a", "weight": 0.1}, {"name": "b", "weight": 0.9}]}, NOW
    )
    uids = user_ids(2000)
    first = {uid: assign(before, uid).variant for uid in uids}
    moved = [uid for uid in uids if assign(after, uid).variant != first[uid]]
    assert moved  # without stickiness a weight change moves people...
    for uid in uids:  # ...with it, nobody moves
        assert assign(after, uid, sticky_variant=first[uid]) == Assignment(first[uid], True)


def test_sticky_variant_is_ignored_when_inactive_or_unknown() -> None:
    assert assign(make(active=False), "u1", sticky_variant="b") == Assignment("a", False)
    assert assign(make(), "u1", sticky_variant="gone") == assign(make(), "u1")


def test_experiments_with_different_seeds_are_independent() -> None:
    one = create_experiment({"id": "one", "name": "x", "variants": ["a", "b"]}, NOW)
    two = create_experiment({"id": "two", "name": "x", "variants": ["a", "b"]}, NOW)
    in_a = [uid for uid in user_ids(20_000) if assign(one, uid).variant == "a"]
    share = sum(assign(two, uid).variant == "a" for uid in in_a) / len(in_a)
    assert share == pytest.approx(0.5, abs=0.02)


# ------------------------------------------------------------------------ stats


@pytest.mark.parametrize(
    ("x", "df", "expected"),
    [
        (3.84, 1, 0.05004352125),
        (10, 3, 0.01856613546),
        (20, 5, 0.001249730563),
    ],
)
def test_chi2_sf_known_values(x: float, df: int, expected: float) -> None:
    assert chi2_sf(x, df) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("df", [4, 6, 10, 20, 50])
def test_chi2_sf_even_df_closed_form(df: int) -> None:
    # For df = 2k: exp(-x/2) * sum_{i<k} (x/2)^i / i!
    for x in (0.3, 1, 5, df - 1, df, df + 1, 2 * df, 5 * df):
        h = x / 2
        expected = math.exp(-h) * sum(h**i / math.factorial(i) for i in range(df // 2))
        assert chi2_sf(x, df) == pytest.approx(expected, rel=1e-9)


def test_chi2_sf_matches_closed_forms() -> None:
    # df=1: erfc(sqrt(x/2)); df=2: exp(-x/2). Both sides of the series/fraction switch.
    for i in range(1, 1500):
        x = i / 10
        assert chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9, abs=1e-300)
        assert chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-9, abs=1e-300)


def test_gamma_q_edges() -> None:
    assert gamma_q(2.5, 0) == 1.0
    assert gamma_q(2.5, math.inf) == 0.0
    assert chi2_sf(0, 3) == 1.0
    assert chi2_sf(10_000, 3) == 0.0
    with pytest.raises(ValueError):
        gamma_q(0, 1)
    with pytest.raises(ValueError):
        gamma_q(1, -1)
    with pytest.raises(ValueError):
        chi2_sf(1, 0)


def test_srm_balanced_counts_pass() -> None:
    statistic, p = chi_square_srm([5000, 5000], [0.5, 0.5])
    assert statistic == 0 and p == 1.0
    _, p = chi_square_srm([5040, 4960], [0.5, 0.5])
    assert not srm_detected(p)


def test_srm_flags_a_skewed_split() -> None:
    statistic, p = chi_square_srm([5000, 5500], [0.5, 0.5])
    assert statistic == pytest.approx(2 * 250**2 / 5250)
    assert p < 0.001
    assert srm_detected(p)


def test_srm_threshold_is_strict() -> None:
    assert srm_detected(0.000999)
    assert not srm_detected(0.001)


def test_srm_weights_may_be_on_any_scale() -> None:
    assert chi_square_srm([200, 300, 500], [2, 3, 5]) == chi_square_srm(
        [200, 300, 500], [0.2, 0.3, 0.5]
    )


def test_srm_no_observations() -> None:
    assert chi_square_srm([0, 0, 0], [1, 1, 1]) == (0.0, 1.0)


def test_srm_zero_weight_variant() -> None:
    # No exposures where none are expected: that cell says nothing.
    _, p = chi_square_srm([500, 0, 500], [0.5, 0, 0.5])
    assert p == 1.0
    # Exposures where none can happen: certainly broken.
    assert chi_square_srm([500, 1, 500], [0.5, 0, 0.5]) == (math.inf, 0.0)


def test_srm_input_errors() -> None:
    with pytest.raises(ValueError):
        chi_square_srm([1, 2], [1])
    with pytest.raises(ValueError):
        chi_square_srm([1, -2], [1, 1])


def test_experiment_stats_shape() -> None:
    experiment = make(["a", "b", "c"])
    result = experiment_stats(experiment, {"a": 100, "c": 5, "unknown": 7})
    assert result["counts"] == {"a": 100, "b": 0, "c": 5}
    assert list(result["counts"]) == ["a", "b", "c"]
    assert result["srm_detected"] is True
    assert 0 <= result["srm_p_value"] < 0.001
    empty = experiment_stats(experiment, {})
    assert empty == {"counts": {"a": 0, "b": 0, "c": 0}, "srm_p_value": 1.0, "srm_detected": False}


# ------------------------------------------------------------------- validation


def fields_of(error: pytest.ExceptionInfo[InvalidParams]) -> list[str]:
    return [e["field"] for e in error.value.errors]


def test_names_give_equal_weights() -> None:
    variants = parse_variants(["a", "b", "c", "d"])
    assert [v.name for v in variants] == ["a", "b", "c", "d"]
    assert all(v.weight == 0.25 for v in variants)


def test_weights_are_normalised() -> None:
    variants = parse_variants([{"name": "a", "weight": 1}, {"name": "b", "weight": 3}])
    assert variants == (Variant("a", 0.25), Variant("b", 0.75))
    assert parse_variants([{"name": "a", "weight": 0}, {"name": "b", "weight": 2}]) == (
        Variant("a", 0.0),
        Variant("b", 1.0),
    )


@pytest.mark.parametrize(
    ("value", "fields"),
    [
        (None, ["variants"]),
        ("a,b", ["variants"]),
        ({"name": "a"}, ["variants"]),
        ([], ["variants"]),
        ([f"v{i}" for i in range(21)], ["variants"]),
        (["a", "b", "a"], ["variants[2]"]),
        (["a", "", "  "], ["variants[1]", "variants[2]"]),
        (["a", 3], ["variants[1]"]),
        (["a", "x" * 65], ["variants[1]"]),
        (["a", {"name": "b", "weight": 1}], ["variants[1]"]),
        ([{"name": "a", "weight": 1}, "b"], ["variants[1]"]),
        ([{"name": "a", "weight": 1}, {"name": "b", "weight": -1}], ["variants[1].weight"]),
        ([{"name": "a", "weight": 0}, {"name": "b", "weight": 0}], ["variants"]),
        ([{"name": "a", "weight": 1}, {"name": "b"}], ["variants[1].weight"]),
        ([{"weight": 1}, {"name": "b", "weight": 1}], ["variants[0].name"]),
        ([{"name": "a", "weight": True}, {"name": "b", "weight": 1}], ["variants[0].weight"]),
        ([{"name": "a", "weight": "1"}, {"name": "b", "weight": 1}], ["variants[0].weight"]),
        ([{"name": "a", "weight": math.nan}, {"name": "b", "weight": 1}], ["variants[0].weight"]),
        ([{"name": "a", "weight": math.inf}, {"name": "b", "weight": 1}], ["variants[0].weight"]),
        ([{"name": "a", "weight": 1, "colour": "red"}], ["variants[0].colour"]),
        # Weights whose sum overflows a double: each divided by inf was 0, which switched
        # off sample-ratio-mismatch detection.
        ([{"name": "a", "weight": 1e308}, {"name": "b", "weight": 1e308}], ["variants[0].weight", "variants[1].weight"]),
        ([{"name": "a", "weight": MAX_WEIGHT * 1.000001}, {"name": "b", "weight": 1}], ["variants[0].weight"]),
        (
            [{"name": "a", "weight": 1}, {"name": "a", "weight": 1}, {"name": 5, "weight": -1}],
            ["variants[2].name", "variants[2].weight", "variants[1].name"],
        ),
    ],
)
def test_variant_errors_name_their_fields(value: object, fields: list[str]) -> None:
    with pytest.raises(InvalidParams) as info:
        parse_variants(value)
    assert sorted(fields_of(info)) == sorted(fields)


@pytest.mark.parametrize("weights", [
    [MAX_WEIGHT] * MAX_VARIANTS,
    [MAX_WEIGHT, 5e-324],
    [5e-324, 5e-324],
    [MAX_WEIGHT, 1e-300, 0.0],
])
def test_weights_at_the_edges_stay_finite_and_keep_srm_working(weights: list[float]) -> None:
    variants = parse_variants([{"name": f"v{i}", "weight": w} for i, w in enumerate(weights)])
    normalised = [v.weight for v in variants]
    assert all(math.isfinite(w) for w in normalised) and abs(sum(normalised) - 1) < 1e-9, normalised
    assert all(n > 0 for n, w in zip(normalised, weights) if w >= 1e-300), normalised
    balanced = [1000] * len(weights)
    statistic, p_value = chi_square_srm(balanced, normalised)
    assert 0.0 <= p_value <= 1.0 and not math.isnan(statistic)


def test_twenty_variants_are_allowed() -> None:
    assert len(parse_variants([f"v{i}" for i in range(20)])) == 20


@pytest.mark.parametrize("value", [0, 0.5, 1, 1.0])
def test_coverage_accepts(value: float) -> None:
    assert validate_coverage(value) == float(value)


@pytest.mark.parametrize("value", [-0.01, 1.01, "0.5", None, True, math.nan])
def test_coverage_rejects(value: object) -> None:
    with pytest.raises(InvalidParams) as info:
        validate_coverage(value)
    assert fields_of(info) == ["coverage"]


@pytest.mark.parametrize("value", ["exp-1", "checkout.button_colour", "A", "x" * 64, "q3:test"])
def test_experiment_id_accepts(value: str) -> None:
    assert validate_experiment_id(value) == value


@pytest.mark.parametrize("value", ["", "x" * 65, "-leading", "has space", "é", 7, None])
def test_experiment_id_rejects(value: object) -> None:
    with pytest.raises(InvalidParams):
        validate_experiment_id(value)


def test_create_defaults() -> None:
    experiment = make(["a", "b"])
    assert experiment.active is True
    assert experiment.coverage == 1.0
    assert experiment.seed == "exp-1"
    assert experiment.created_at == experiment.updated_at == NOW


def test_create_reports_every_problem_at_once() -> None:
    with pytest.raises(InvalidParams) as info:
        create_experiment(
            {"id": "bad id", "variants": ["a", "a"], "active": "yes", "coverage": 2}, NOW
        )
    assert fields_of(info) == ["id", "name", "variants[1]", "active", "coverage"]


def test_update_changes_weights_coverage_and_active() -> None:
    before = make(["a", "b"])
    after = update_experiment(
        before,
        {
            "id": "exp-1",
            "active": False,
            "coverage": 0.4,
            "variants": [{"name": "a", "weight": 3}, {"name": "b", "weight": 1}],
        },
        NOW + 60,
    )
    assert after.weights() == (0.75, 0.25)
    assert after.active is False and after.coverage == 0.4
    assert after.updated_at == NOW + 60 and after.created_at == NOW
    assert [list(r) for r in after.ranges] == [
        pytest.approx([0, 0.3]),
        pytest.approx([0.75, 0.85]),
    ]
    assert update_experiment(before, {}, NOW + 1).variants == before.variants


@pytest.mark.parametrize(
    "variants",
    [
        ["b", "a"],  # reordered
        ["a", "c"],  # renamed
        ["a"],  # removed
        ["a", "b", "c"],  # added
    ],
)
def test_update_cannot_change_names(variants: list) -> None:
    with pytest.raises(InvalidParams) as info:
        update_experiment(make(["a", "b"]), {"variants": variants}, NOW)
    assert fields_of(info) == ["variants"]


def test_with_weights_passes_parse_errors_through() -> None:
    with pytest.raises(InvalidParams) as info:
        with_weights(parse_variants(["a", "b"]), [{"name": "a", "weight": -1}, {"name": "b", "weight": 1}])
    assert fields_of(info) == ["variants[0].weight"]


def test_update_reports_every_problem_at_once() -> None:
    with pytest.raises(InvalidParams) as info:
        update_experiment(make(), {"active": 1, "coverage": -1, "variants": []}, NOW)
    assert fields_of(info) == ["active", "coverage", "variants"]


def test_to_dict_and_back() -> None:
    experiment = make([{"name": "a", "weight": 1}, {"name": "b", "weight": 3}], coverage=0.5)
    data = experiment.to_dict()
    assert data == {
        "id": "exp-1",
        "name": "Experiment",
        "variants": [{"name": "a", "weight": 0.25}, {"name": "b", "weight": 0.75}],
        "active": True,
        "coverage": 0.5,
        "seed": "exp-1",
        "created_at": "2023-11-14T22:13:20.000Z",
        "updated_at": "2023-11-14T22:13:20.000Z",
    }
    again = Experiment.from_dict(data)
    assert again == experiment
    assert again.ranges == experiment.ranges
