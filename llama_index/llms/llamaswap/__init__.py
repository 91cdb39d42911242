"""Import path LlamaIndex users search for; the class lives in ``llama_index_llamaswap``."""

from llama_index_llamaswap.llms import LlamaSwap

__all__ = ["LlamaSwap"]
