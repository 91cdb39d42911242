"""llama-server accepts llama.cpp's sampling settings sent by ChatLlamaSwap and LlamaSwap.

At temperature 2 different seeds give different answers; with ``top_k=1`` every seed gives
the same one, which only holds if ``top_k`` reached the server.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.llms import ChatMessage

from langchain_llamaswap import ChatLlamaSwap
from llama_index_llamaswap import LlamaSwap

PROMPT = "Write a short sentence about the sea."
EVERY_SETTING: dict[str, Any] = {
    "min_p": 0.05,
    "typical_p": 1.0,
    "n_probs": 1,
    "cache_prompt": True,
    "id_slot": -1,
    "chat_template_kwargs": {"enable_thinking": False},
    "grammar": 'root ::= "yes" | "no"',
    "llamaswap_test_unknown_setting": 1,
}


def answers(dsn: str, *, seeds: range, **settings: Any) -> set[str]:
    model = ChatLlamaSwap(dsn=dsn, model="qwen", max_tokens=12, temperature=2.0, **settings)
    return {str(model.invoke(PROMPT, seed=seed).content) for seed in seeds}


def test_top_k_and_seed_reach_llama_server(dsn: str) -> None:
    assert len(answers(dsn, seeds=range(1, 4))) > 1  # control: sampling really is random
    assert len(answers(dsn, seeds=range(1, 4), top_k=1)) == 1


def test_every_llamacpp_setting_is_accepted_and_grammar_applies(dsn: str) -> None:
    model = ChatLlamaSwap(
        dsn=dsn,
        model="qwen",
        max_tokens=4,
        top_k=20,
        repeat_penalty=1.05,
        repeat_last_n=64,
        mirostat=0,
        mirostat_tau=5.0,
        mirostat_eta=0.1,
        seed=11,
        presence_penalty=0.0,
        frequency_penalty=0.0,
        model_kwargs=EVERY_SETTING,
    )
    assert model.invoke("Is water wet? Answer yes or no.").content in ("yes", "no")
    llm = LlamaSwap(
        model="qwen",
        dsn=dsn,
        max_tokens=4,
        additional_kwargs={"top_k": 1, "presence_penalty": 0.0, **EVERY_SETTING},
    )
    reply = llm.chat([ChatMessage(role="user", content="Is fire cold? Answer yes or no.")])
    assert reply.message.content in ("yes", "no")


def test_llama_index_top_k_one_is_repeatable_across_seeds(dsn: str) -> None:
    llm = LlamaSwap(
        model="qwen", dsn=dsn, max_tokens=12, temperature=2.0, additional_kwargs={"top_k": 1}
    )
    said = {
        llm.chat([ChatMessage(role="user", content=PROMPT)], seed=seed).message.content
        for seed in (1, 2, 3)
    }
    assert len(said) == 1
