"""``ChatLlamaSwap.profile``: langchain-core's model profile from llama-swap's model listing.

llama-swap (v225+) renders each model's ``capabilities`` config into ``/v1/models``
(``architecture``, ``capabilities``, ``supported_parameters``, ``context_length``); reading
that never loads the model. What the listing does not say comes from what every model
behind ``ChatLlamaSwap`` has: llama-server reads and writes text, takes a temperature, and
turns a JSON schema into a grammar (``with_structured_output``'s default).
"""

from __future__ import annotations

import logging

from langchain_core.language_models.model_profile import ModelProfile

from llamaswap import LlamaSwapError, LlamaSwapProvider, ModelInfo

logger = logging.getLogger("langchain_llamaswap")


def class_profile() -> ModelProfile:
    """What ``ChatLlamaSwap`` knows of any model it talks to, without asking."""
    return ModelProfile(
        text_inputs=True,
        text_outputs=True,
        structured_output=True,
        temperature=True,
    )


def profile_from_listing(info: ModelInfo) -> ModelProfile:
    """The profile a listed model's record declares, over :func:`class_profile`."""
    profile = class_profile()
    if info.name:
        profile["name"] = info.name
    if info.context_length is not None:
        profile["max_input_tokens"] = info.context_length
    if not info.declares_capabilities:
        return profile
    inputs, outputs = info.input_modalities, info.output_modalities
    if inputs:
        profile["text_inputs"] = "text" in inputs
        profile["image_inputs"] = "image" in inputs
        profile["audio_inputs"] = "audio" in inputs
    if outputs:
        profile["text_outputs"] = "text" in outputs
        profile["image_outputs"] = "image" in outputs
        profile["audio_outputs"] = "audio" in outputs
        profile["structured_output"] = "text" in outputs
    if info.has("vision"):
        profile["image_inputs"] = True
    # A declared capabilities block without ``tools`` means the model has none.
    profile["tool_calling"] = info.has("function_calling")
    profile["tool_choice"] = "tool_choice" in info.supported_parameters
    return profile


def model_profile(provider: LlamaSwapProvider, model: str) -> ModelProfile:
    """``model``'s profile from ``GET /v1/models``, or :func:`class_profile` if unlisted.

    An unreachable llama-swap or an unknown id is logged and answered with what the class
    knows, so building a chat model never fails over its profile.
    """
    try:
        info = provider.model_facts(model)
    except LlamaSwapError as exc:
        logger.info("model profile of %r from what ChatLlamaSwap knows: %s", model, exc)
        return class_profile()
    return profile_from_listing(info)
