"""Import path LlamaIndex users search for; the reader lives in ``llama_index_llamaswap``."""

from llama_index_llamaswap.audio import LlamaSwapAudioReader

__all__ = ["LlamaSwapAudioReader"]
