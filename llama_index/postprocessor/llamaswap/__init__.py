"""Import path LlamaIndex users search for; the class lives in ``llama_index_llamaswap``."""

from llama_index_llamaswap.postprocessor import LlamaSwapRerank

__all__ = ["LlamaSwapRerank"]
