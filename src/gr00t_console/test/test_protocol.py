"""The console's request validation, token check and state aggregation (pure Python, no rclpy)."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gr00t_console.protocol import (
    OPS,
    RequestError,
    bearer_token,
    generate_token,
    parse_request,
    token_matches,
)
from gr00t_console.state import ConsoleState, StateConfig

GROUPS = ("left_arm", "right_arm")


def parse(raw, max_bytes=4096):
    return parse_request(raw, max_bytes=max_bytes, max_instruction_bytes=64, groups=GROUPS)


def test_valid_requests_parse_with_their_arguments():
    assert parse('{"op": "estop"}').op == "estop"
    request = parse('{"op": "instruct", "text": "  touch the cube ", "timeout_s": 5, "id": 7}')
    assert (request.op, request.args, request.id) == ("instruct", {"text": "touch the cube", "timeout_s": 5.0}, 7)
    assert parse('{"op": "record_stop", "outcome": "discard"}').args == {"outcome": "discard"}
    assert parse('{"op": "select_group", "group": "left_arm"}').args == {"group": "left_arm"}
    assert not parse('{"op": "estop"}').needs_token and not parse('{"op": "auth", "token": "x"}').needs_token
    for op in set(OPS) - {"estop", "auth"}:
        assert op in (
            "reset_estop",
            "enable",
            "disable",
            "instruct",
            "stop",
            "record_start",
            "record_stop",
            "select_group",
        )


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"op": "fly"}', "unknown op"),
        ('{"op": "estop", "extra": 1}', "unknown field"),
        ('{"op": "instruct"}', "missing field"),
        ('{"op": "instruct", "text": ""}', "empty"),
        ('{"op": "instruct", "text": "   "}', "empty"),
        ('{"op": "instruct", "text": 5}', "string"),
        ('{"op": "instruct", "text": "' + "x" * 65 + '"}', "more than 64"),
        ('{"op": "instruct", "text": "a\\u0000b"}', "control"),
        ('{"op": "instruct", "text": "a\\ud800"}', "UTF-8"),
        ('{"op": "instruct", "text": "go", "timeout_s": -1}', "seconds"),
        ('{"op": "instruct", "text": "go", "timeout_s": NaN}', "not valid JSON"),
        ('{"op": "instruct", "text": "go", "timeout_s": 1e400}', "seconds"),
        ('{"op": "instruct", "text": "go", "timeout_s": true}', "seconds"),
        ('{"op": "record_stop", "outcome": "maybe"}', "one of"),
        ('{"op": "record_stop", "outcome": ["success"]}', "one of"),
        ('{"op": "select_group", "group": "tail"}', "one of"),
        ('{"op": "estop", "id": -1}', "id must"),
        ('{"op": "estop", "id": 1.5}', "id must"),
        ('{"op": "auth", "token": 12}', "token must"),
        ('{"op": "estop"}' + " " * 5000, "larger than"),
        (b'\xff\xfe{"op": "estop"}', "not UTF-8"),
        ("[" * 5000, "larger than"),
    ],
)
def test_bad_requests_are_refused_with_a_reason(raw, reason):
    with pytest.raises(RequestError, match=reason):
        parse(raw)


def test_deep_nesting_within_the_size_bound_is_refused_not_a_crash():
    with pytest.raises(RequestError):
        parse("[" * 4000 + "]" * 4000, max_bytes=9000)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
            lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
            max_leaves=12,
        ).map(lambda v: json.dumps(v)),
    )
)
def test_any_input_parses_or_is_refused_with_request_error(raw):
    try:
        request = parse(raw)
    except RequestError:
        return
    assert request.op in OPS


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {"op": st.sampled_from(sorted(OPS))},
        optional={
            "text": st.text(max_size=80),
            "timeout_s": st.floats(allow_nan=False),
            "outcome": st.text(max_size=10),
            "group": st.text(max_size=10),
            "token": st.text(max_size=10),
            "id": st.integers(),
        },
    )
)
def test_structured_requests_are_accepted_only_when_every_field_is_valid(message):
    try:
        request = parse(json.dumps(message))
    except RequestError:
        return
    if "text" in request.args:
        assert request.args["text"] and len(request.args["text"].encode()) <= 64
    if "timeout_s" in request.args:
        assert 0 <= request.args["timeout_s"] <= 3600
    if "group" in request.args:
        assert request.args["group"] in GROUPS


def test_token_check_is_exact_and_refuses_non_strings():
    token = generate_token()
    assert len(token) >= 40 and generate_token() != token
    assert token_matches(token, token)
    for wrong in (None, "", token[:-1], token + "x", 5, ["x"], "\ud800", "x" * 1000):
        assert not token_matches(token, wrong)
    assert not token_matches("", "")
    assert bearer_token(f"Bearer {token}") == token
    assert bearer_token("Basic abc") is None and bearer_token(None) is None and bearer_token("Bearer ") is None


def _state(clock):
    return ConsoleState(
        StateConfig(("a", "b", "c"), {"g": ("a", "c"), "h": ("b",)}, plot_rate_hz=10.0, plot_window_s=2.0), clock=clock
    )


def test_state_aggregates_status_plot_chunks_rates_and_episodes():
    now = [0.0]
    urgent = []
    state = _state(lambda: now[0])
    state.on_urgent = lambda: urgent.append(now[0])
    state.on_controller_status(2, "", [], 10, 119.5, False)
    state.on_controller_status(2, "", [], 11, 119.0, False)  # same state and faults: not urgent
    state.on_controller_status(4, "estop (console)", ["estop"], 11, 0.0, False)
    assert len(urgent) == 2
    for k in range(30):
        now[0] = k * 0.05
        state.on_joint_command(["a", "b", "c"], [k, 2 * k, math.nan])
        state.on_joint_state(["c", "a", "zzz"], [0.5, k - 0.5, 9.0])
        if k % 8 == 0:
            state.on_chunk()
    snap = state.snapshot("g")
    assert snap["controller"]["state"] == "ESTOPPED" and snap["controller"]["faults"] == ["estop"]
    plot = snap["plot"]
    assert plot["joints"] == ["a", "c"]
    assert 10 <= len(plot["t"]) <= 16  # 10 Hz samples over 1.45 s
    assert plot["commanded"][1] == [None] * len(plot["t"])  # NaN commands are gaps, never NaN in JSON
    assert plot["measured"][0][-1] == pytest.approx(29 - 0.5)
    assert len(plot["chunks"]) == 4 and snap["rates"]["chunks"] > 0 and snap["rates"]["joint_states"] > 0
    json.dumps(snap, allow_nan=False)
    later = state.snapshot("g", since_sample=plot["last_sample"], since_chunk=plot["last_chunk"])
    assert later["plot"]["t"] == [] and later["plot"]["chunks"] == []
    state.on_recorder_status(
        {
            "state": "idle",
            "last_episode": "episode e1: success, 10 messages in 1.0 s -> /x",
            "last_outcome": "success",
            "messages": {"/a": 3, "/b": "x"},
            "elapsed_s": float("nan"),
        }
    )
    state.on_recorder_status(
        {"state": "idle", "last_episode": "episode e1: success, 10 messages in 1.0 s -> /x", "last_outcome": "success"}
    )
    state.on_recorder_status(
        {"state": "idle", "last_episode": "episode e2: discarded, 0 messages in 1.0 s", "last_outcome": "discarded"}
    )
    state.on_recorder_status({"state": "idle", "last_episode": "episode e3: ?", "last_outcome": "unheard-of"})
    snap = state.snapshot("h")
    # Once per episode; an outcome the console does not know counts as interrupted.
    assert snap["episodes"] == {"success": 1, "failure": 0, "discarded": 1, "interrupted": 1, "total": 3}
    json.dumps(snap, allow_nan=False)
