"""LlamaIndex integrations for llama-swap."""
