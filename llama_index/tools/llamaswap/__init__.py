"""Import path LlamaIndex users search for; the classes live in ``llama_index_llamaswap``."""

from llama_index_llamaswap.audio import LlamaSwapSpeechToolSpec, to_audio_block
from llama_index_llamaswap.tools import LlamaSwapImageToolSpec, to_image_block, to_image_blocks

__all__ = [
    "LlamaSwapImageToolSpec",
    "LlamaSwapSpeechToolSpec",
    "to_audio_block",
    "to_image_block",
    "to_image_blocks",
]
