"""The spliced success envelope is byte for byte what encoding the envelope dict gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camsvc.rpc import protocol as p

ids = st.one_of(st.none(), st.integers(), st.text(), st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


@given(ids, json_values)
def test_same_bytes_as_the_encoded_dict(id_: Any, result: Any) -> None:
    assert p.response_text(id_, result) == p.encode(p.response(id_, result))


def test_non_finite_results_still_refused() -> None:
    with pytest.raises(ValueError):
        p.response_text(1, {"x": float("nan")})


@given(ids, json_values)
def test_pre_encoded_results_are_spliced_verbatim(id_: Any, result: Any) -> None:
    assert p.response_text(id_, p.Encoded(result)) == p.encode(p.response(id_, result))


json_texts = st.one_of(
    json_values.map(lambda v: p.encode(v) if not isinstance(v, float) else "1.5"),
    st.text(max_size=30),
    st.sampled_from(["{}", "[]", "{} ", "{}{}", "[1]]", '{"a":NaN}', "[Infinity]", "[1e400]", '{"a":1,"a":2}',
                     "[" * 3000 + "]" * 3000, '{"x":' + "9" * 5000 + "}", '["\\ud800"]', "[1,]", "{]", "[}"]),
)


@given(json_texts)
def test_decode_gives_the_stdlib_decoders_values_and_verdicts(text: str) -> None:
    try:
        expected: Any = ("value", p._decoder.decode(text))
    except RecursionError:
        expected = ("error", "too_deeply_nested")
    except ValueError:
        expected = ("error", "invalid_json")
    try:
        got: Any = ("value", p.decode(text))
    except p.ProtocolError as exc:
        got = ("error", exc.data["reason"])
    assert repr(got) == repr(expected)
