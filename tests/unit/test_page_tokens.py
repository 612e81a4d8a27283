"""Tests of trackyard.search.paging: page tokens and max_results rules."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trackyard.errors import ErrorCode, TrackyardError
from trackyard.search import (
    DEFAULT_MAX_RESULTS,
    MAX_RESULTS_CAP,
    SearchKind,
    decode_page_token,
    encode_page_token,
    validate_max_results,
)


def b64(raw: str | bytes) -> str:
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    return base64.b64encode(data).decode("ascii")


def assert_invalid(token: object) -> None:
    with pytest.raises(TrackyardError) as info:
        decode_page_token(token)  # type: ignore[arg-type]
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert info.value.message.startswith("Invalid page token")


# ---------------------------------------------------------------------------------------------
# Page tokens


def test_token_format_matches_mlflow():
    assert encode_page_token(1) == "eyJvZmZzZXQiOiAxfQ=="
    assert base64.b64decode(encode_page_token(1234)) == b'{"offset": 1234}'
    assert encode_page_token(0) == b64('{"offset": 0}')


@pytest.mark.parametrize("token", [None, ""])
def test_no_token_is_offset_zero(token):
    assert decode_page_token(token) == 0


@pytest.mark.parametrize("offset", [0, 1, 2, 99, 1000, 50000, 123456789, 10**12])
def test_round_trip(offset):
    assert decode_page_token(encode_page_token(offset)) == offset


@given(st.integers(min_value=0, max_value=10**12))
def test_round_trip_property(offset):
    token = encode_page_token(offset)
    assert token.isascii()
    assert decode_page_token(token) == offset


def test_tokens_written_by_mlflow_are_accepted():
    # MLflow writes json.dumps({"offset": N}) in standard base64; compact JSON works too.
    assert decode_page_token(b64(json.dumps({"offset": 25}))) == 25
    assert decode_page_token(b64('{"offset":25}')) == 25
    assert decode_page_token(b64('  {"offset" : 7 }  ')) == 7


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        "eyJvZmZzZXQiOiAxfQ",  # padding removed
        "eyJvZmZzZXQiOiAxfQ==\n",
        " eyJvZmZzZXQiOiAxfQ==",
        "eyJvZmZzZXQiOiAxfQ==eyJvZmZzZXQiOiAxfQ==",
        "ëyJvZmZzZXQiOiAxfQ==",
        b64(b"\xff\xfe\x00"),  # not UTF-8
        b64("not json"),
        b64("[1]"),
        b64('"offset"'),
        b64("1"),
        b64("null"),
        b64("{}"),
        b64('{"offset": 1, "extra": 2}'),
        b64('{"Offset": 1}'),
        b64('{"offset": "1"}'),
        b64('{"offset": 1.0}'),
        b64('{"offset": 1e3}'),
        b64('{"offset": true}'),
        b64('{"offset": false}'),
        b64('{"offset": null}'),
        b64('{"offset": -1}'),
        b64('{"offset": NaN}'),
        b64('{"offset": Infinity}'),
        b64('{"offset": [1]}'),
        b64(json.dumps({"offset": 10**12 + 1})),
        b64(json.dumps({"offset": 10**100})),
        b64("[" * 100000 + "]" * 100000),
        b64('{"offset": ' + "9" * 5000 + "}"),
        "A" * 10000,
    ],
)
def test_tampered_tokens_are_rejected(token):
    assert_invalid(token)


@pytest.mark.parametrize("token", [1, 1.0, b"eyJvZmZzZXQiOiAxfQ==", ["x"], {"offset": 1}, True])
def test_non_string_tokens_are_rejected(token):
    assert_invalid(token)


@given(st.text(max_size=200))
def test_arbitrary_tokens_decode_or_fail_cleanly(token):
    try:
        offset = decode_page_token(token)
    except TrackyardError as exc:
        assert exc.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    else:
        assert isinstance(offset, int)
        assert 0 <= offset <= 10**12


@given(st.binary(min_size=1, max_size=64))
def test_arbitrary_payloads_decode_or_fail_cleanly(payload):
    try:
        offset = decode_page_token(b64(payload))
    except TrackyardError as exc:
        assert exc.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    else:
        assert json.loads(payload) == {"offset": offset}


@pytest.mark.parametrize("offset", [-1, True, 1.0, "1", None, 10**12 + 1])
def test_encoding_a_bad_offset_is_a_programming_error(offset):
    with pytest.raises(ValueError):
        encode_page_token(offset)  # type: ignore[arg-type]


def test_bad_token_message_is_short():
    with pytest.raises(TrackyardError) as info:
        decode_page_token("x" * 100)
    assert len(info.value.message) < 200


# ---------------------------------------------------------------------------------------------
# max_results

LIMITS = [
    (SearchKind.RUNS, 1000, 50000),
    (SearchKind.EXPERIMENTS, 1000, 50000),
    (SearchKind.REGISTERED_MODELS, 100, 1000),
    (SearchKind.MODEL_VERSIONS, 10000, 200000),
]


@pytest.mark.parametrize(("kind", "default", "cap"), LIMITS)
def test_defaults_and_caps(kind, default, cap):
    assert DEFAULT_MAX_RESULTS[kind] == default
    assert MAX_RESULTS_CAP[kind] == cap
    assert validate_max_results(None, kind) == default
    assert validate_max_results(1, kind) == 1
    assert validate_max_results(cap, kind) == cap
    with pytest.raises(TrackyardError) as info:
        validate_max_results(cap + 1, kind)
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert info.value.message == (
        f"Invalid value {cap + 1} for parameter 'max_results' supplied. It must be at most {cap}"
    )


def test_runs_are_the_default_kind():
    assert validate_max_results(None) == 1000
    assert validate_max_results(None, "experiments") == 1000  # type: ignore[arg-type]


def test_mlflow_message_for_too_many_results():
    with pytest.raises(TrackyardError) as info:
        validate_max_results(60000, SearchKind.RUNS)
    assert info.value.message == (
        "Invalid value 60000 for parameter 'max_results' supplied. It must be at most 50000"
    )


@pytest.mark.parametrize("value", [0, -1, -50000])
def test_below_one_is_rejected(value):
    with pytest.raises(TrackyardError) as info:
        validate_max_results(value, SearchKind.RUNS)
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert info.value.message.endswith("It must be at least 1")


@pytest.mark.parametrize("value", [True, False, 10.0, "10", b"10", [10], 1.5, float("nan")])
def test_non_integers_are_rejected(value):
    with pytest.raises(TrackyardError) as info:
        validate_max_results(value, SearchKind.RUNS)  # type: ignore[arg-type]
    assert info.value.error_code == ErrorCode.INVALID_PARAMETER_VALUE
    assert info.value.message.endswith("It must be an integer")


def test_integral_types_other_than_int_are_accepted():
    class MyInt(int):
        pass

    result = validate_max_results(MyInt(5), SearchKind.RUNS)
    assert result == 5
    assert type(result) is int
