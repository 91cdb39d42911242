"""The /api/events parser is pure: frames in, typed events out, nothing dropped."""

from __future__ import annotations

import json

from llamaswap.events import (
    Activity,
    InFlight,
    LogData,
    ModelStatus,
    ProfileChanged,
    SSEDecoder,
    SSEFrame,
    UIConfig,
    UnknownEvent,
    decode_event,
    iter_frames,
)


def frame(kind: str, payload: object) -> str:
    """One frame exactly as llama-swap writes it: no space after colons, data encoded twice."""
    envelope = {"type": kind, "data": json.dumps(payload)}
    return f"event:message\ndata:{json.dumps(envelope)}\n\n"


def decode_stream(text: str) -> list[object]:
    return [decode_event(f) for f in iter_frames(text.split("\n"))]


def test_model_status_is_decoded_twice_into_typed_states() -> None:
    payload = [
        {
            "id": "qwen",
            "name": "Qwen",
            "description": "",
            "state": "starting",
            "unlisted": False,
            "peerID": "",
        },
        {
            "id": "peer1/llama",
            "name": "",
            "description": "",
            "state": "",
            "unlisted": False,
            "peerID": "peer1",
        },
    ]
    (event,) = decode_stream(frame("modelStatus", payload))
    assert isinstance(event, ModelStatus)
    assert event.state_of("qwen") == "starting"
    assert event.state_of("missing") is None
    assert event.models[0].peer_id is None
    assert event.models[1].peer_id == "peer1"


def test_connect_sequence_yields_each_type_in_order() -> None:
    text = (
        frame("logData", {"source": "proxy", "data": "[INFO] hello\n"})
        + frame("logData", {"source": "upstream", "data": ""})
        + frame("modelStatus", [])
        + frame("uiConfig", {"activity": {"session_id": ["X-Session-ID"]}})
        + frame("profileChanged", {"active": None})
        + frame("inflight", {"operation": "snapshot", "requests": [{"id": "1"}]})
        + frame("activity", {"id": 7})
    )
    events = decode_stream(text)
    assert [type(e) for e in events] == [
        LogData,
        LogData,
        ModelStatus,
        UIConfig,
        ProfileChanged,
        InFlight,
        Activity,
    ]
    log = events[0]
    assert isinstance(log, LogData) and log.source == "proxy" and "hello" in log.data
    assert isinstance(events[4], ProfileChanged) and events[4].active is None
    inflight = events[5]
    assert isinstance(inflight, InFlight) and inflight.operation == "snapshot"
    assert inflight.requests[0]["id"] == "1"
    assert isinstance(events[6], Activity) and events[6].id == 7


def test_inflight_upsert_and_remove() -> None:
    upsert = decode_event(
        SSEFrame(
            "message",
            json.dumps(
                {
                    "type": "inflight",
                    "data": json.dumps(
                        {"operation": "upsert", "request": {"id": "3", "model": "qwen"}}
                    ),
                }
            ),
        )
    )
    remove = decode_event(
        SSEFrame(
            "message",
            json.dumps(
                {"type": "inflight", "data": json.dumps({"operation": "remove", "id": "3"})}
            ),
        )
    )
    assert isinstance(upsert, InFlight) and upsert.requests[0]["model"] == "qwen"
    assert isinstance(remove, InFlight) and remove.request_id == "3"


def test_unknown_type_is_kept_not_dropped() -> None:
    (event,) = decode_stream(frame("metricsV2", {"x": 1}))
    assert isinstance(event, UnknownEvent)
    assert event.type == "metricsV2"
    assert event.data == {"x": 1}
    assert event.error == ""


def test_malformed_payloads_become_unknown_events_with_a_reason() -> None:
    bad_envelope = decode_event(SSEFrame("message", "{not json"))
    no_type = decode_event(SSEFrame("message", json.dumps({"data": "{}"})))
    bad_inner = decode_event(SSEFrame("message", json.dumps({"type": "modelStatus", "data": "[{"})))
    wrong_shape = decode_event(
        SSEFrame("message", json.dumps({"type": "modelStatus", "data": json.dumps({"a": 1})}))
    )
    for event in (bad_envelope, no_type, bad_inner, wrong_shape):
        assert isinstance(event, UnknownEvent)
        assert event.error
    assert isinstance(bad_inner, UnknownEvent) and bad_inner.type == "modelStatus"


def test_already_decoded_payload_is_accepted() -> None:
    event = decode_event(SSEFrame("message", json.dumps({"type": "activity", "data": {"id": 2}})))
    assert isinstance(event, Activity) and event.id == 2


def test_decoder_handles_spaces_comments_crlf_and_multiline_data() -> None:
    decoder = SSEDecoder()
    lines = [": keep-alive", "event: message\r", 'data: {"a":', "data: 1}", "", ""]
    frames = [f for line in lines if (f := decoder.feed(line)) is not None]
    assert frames == [SSEFrame("message", '{"a":\n1}')]


def test_trailing_frame_without_blank_line_is_flushed() -> None:
    envelope = json.dumps({"type": "activity", "data": json.dumps({"id": 1})})
    frames = list(iter_frames(["event:message", f"data:{envelope}"]))
    assert len(frames) == 1
    assert isinstance(decode_event(frames[0]), Activity)


def test_event_without_name_defaults_to_message() -> None:
    decoder = SSEDecoder()
    assert decoder.feed("data:x") is None
    assert decoder.feed("") == SSEFrame("message", "x")
    assert decoder.feed("") is None
