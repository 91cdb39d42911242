"""Import path LlamaIndex users search for; the classes live in ``llama_index_llamaswap``."""

from llama_index_llamaswap.tools import LlamaSwapImageToolSpec, to_image_block, to_image_blocks

__all__ = ["LlamaSwapImageToolSpec", "to_image_block", "to_image_blocks"]
