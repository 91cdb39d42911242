"""The scripted test upstream's ``__args__`` directive, which agent tests use to give tools
with more than one string argument distinct values; without it, calls are as before."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llamaswap_rig.upstreams.scripted import plan

EDIT_TOOL = {
    "type": "function",
    "function": {
        "name": "edit_image",
        "parameters": {
            "type": "object",
            "properties": {"image": {"type": "string"}, "prompt": {"type": "string"}},
            "required": ["image", "prompt"],
        },
    },
}


def call_args(user_text: str) -> dict[str, Any]:
    body = {"messages": [{"role": "user", "content": user_text}], "tools": [EDIT_TOOL]}
    (call,) = plan(body, "/v1/chat/completions", {})["tool_calls"]
    assert call["function"]["name"] == "edit_image"
    arguments: dict[str, Any] = json.loads(call["function"]["arguments"])
    return arguments


def test_without_the_directive_required_strings_get_the_user_text() -> None:
    assert call_args("a fox") == {"image": "a fox", "prompt": "a fox"}


def test_the_directive_sets_the_arguments_it_names() -> None:
    text = 'edit it __args__ {"image": "fox.png", "prompt": "add a hat"} please'
    assert call_args(text) == {"image": "fox.png", "prompt": "add a hat"}
    partial = call_args('edit __args__{"image": "fox.png"}')
    assert partial == {"image": "fox.png", "prompt": 'edit __args__{"image": "fox.png"}'}


@pytest.mark.parametrize("text", ["__args__ [1]", "__args__ {not json"])
def test_a_malformed_directive_is_an_error(text: str) -> None:
    with pytest.raises(ValueError):
        call_args(text)
