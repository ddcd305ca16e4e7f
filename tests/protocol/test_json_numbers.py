"""JSON numbers no 64-bit type holds, with values: valid JSON, so never -32700; an id
holding one is -32600, a param holding one is -32602 naming it. What orjson reads
exactly stays as orjson reads it."""

from __future__ import annotations

import orjson
import pytest

from protocol import errors
from protocol.json_numbers import OUT_OF_RANGE, loads
from protocol.jsonrpc import Call, Invalid, parse
from tests.protocol.test_jsonrpc_core import make_engine

INFINITE = ["1e400", "-1e400", "1" + "0" * 400 + ".5", "1E+309", "1" + "0" * 5000]
BIG_INTEGERS = ["18446744073709551616", "-9223372036854775809", "1" + "0" * 40]


@pytest.mark.parametrize("number", INFINITE)
def test_a_number_past_the_double_range_is_read_as_out_of_range(number: str) -> None:
    assert loads('{"a": [1, %s, "x"]}' % number) == {"a": [1, OUT_OF_RANGE, "x"]}
    assert loads(number) is OUT_OF_RANGE


@pytest.mark.parametrize("number", BIG_INTEGERS)
def test_an_integer_past_64_bits_is_out_of_range_where_the_frame_is_read_again(number: str) -> None:
    """orjson reads it as the nearest double, which integer fields refuse and number
    fields check against their range; a frame read again (for an id, or a number past
    the double range) makes it OUT_OF_RANGE. Either way no integer past 64 bits gets in."""
    assert loads('{"a": %s}' % number) == {"a": float(number)}
    assert loads('{"id": %s, "a": %s}' % (number, number)) == {"id": OUT_OF_RANGE, "a": OUT_OF_RANGE}
    assert loads('{"a": %s, "b": 1e400}' % number) == {"a": OUT_OF_RANGE, "b": OUT_OF_RANGE}


@pytest.mark.parametrize("number, value", [
    ("18446744073709551615", 2**64 - 1), ("-9223372036854775808", -2**63), ("1.7976931348623157e308", 1.7976931348623157e308),
    ("5e-324", 5e-324), ("1e-400", 0.0), ("-0", 0), ("1e300", 1e300),
])
def test_numbers_64_bit_types_hold_are_read_as_orjson_reads_them(number: str, value: object) -> None:
    doc = loads('{"jsonrpc": "2.0", "id": %s, "a": %s}' % (number, number))
    assert doc == orjson.loads('{"jsonrpc": "2.0", "id": %s, "a": %s}' % (number, number))
    assert doc["id"] == value and type(doc["id"]) is type(value)


@pytest.mark.parametrize("text", [
    '{"a": 1e400, "b": NaN}', '{"a": 1e400,}', '{"a": 1e400} x', '[1e400, "\\ud800"]', '{"\\udfff": 1e400}',
    '{"a": 1e400, "b": Infinity}', '{"a": 1e400', "[" * 2000 + "1e400" + "]" * 2000,
])
def test_text_that_is_not_json_stays_a_parse_error(text: str) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        loads(text)
    parsed = parse(text)
    assert isinstance(parsed, Invalid) and parsed.error.code == errors.PARSE_ERROR


def test_bytes_are_read_like_text() -> None:
    assert loads(b'{"a": 1e400}') == {"a": OUT_OF_RANGE}
    with pytest.raises(orjson.JSONDecodeError):
        loads(b'{"a": 1e400, "b": "\xff"}')


@pytest.mark.parametrize("rid", ["1e400", "-1e400", "18446744073709551616", "-9223372036854775809", "10" + "0" * 40])
def test_an_id_no_64_bit_type_holds_is_an_invalid_request_without_id(rid: str) -> None:
    parsed = parse('{"jsonrpc": "2.0", "id": %s, "method": "system.ping"}' % rid)
    assert isinstance(parsed, Invalid) and parsed.error.code == errors.INVALID_REQUEST and parsed.id is None
    batch = parse('[{"jsonrpc": "2.0", "id": 1, "method": "a"}, {"jsonrpc": "2.0", "id": %s, "method": "b"}]' % rid)
    assert isinstance(batch, list) and batch[0] == Call("a", None, 1)
    assert isinstance(batch[1], Invalid) and batch[1].error.code == errors.INVALID_REQUEST


def test_large_ids_that_are_doubles_or_64_bit_integers_come_back_as_sent() -> None:
    for rid in ("1e300", "-1.5e19", "18446744073709551615", "9223372036854775808"):
        parsed = parse('{"jsonrpc": "2.0", "id": %s, "method": "m"}' % rid)
        assert isinstance(parsed, Call) and parsed.id == orjson.loads(rid), rid
        assert orjson.dumps({"id": parsed.id}) == b'{"id":%s}' % orjson.dumps(orjson.loads(rid))


async def test_a_param_no_64_bit_type_holds_is_invalid_params_naming_it() -> None:
    engine = make_engine()
    for number in INFINITE + BIG_INTEGERS:
        out = await engine.handle_frame('{"jsonrpc": "2.0", "id": 3, "method": "echo", "params": {"page": %s}}'
                                        % number, None)
        assert out is not None
        answer = orjson.loads(out)
        assert answer["id"] == 3 and answer["error"]["code"] == errors.INVALID_PARAMS, answer
        assert [e["field"] for e in answer["error"]["data"]["errors"]] == ["page"], answer
        if number in INFINITE:
            assert answer["error"]["data"]["errors"][0]["message"] == \
                "is a number beyond what a 64-bit integer or double holds"
