"""LangChain integrations for llama-swap."""
