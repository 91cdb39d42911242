"""llamaswap: the framework-free llama-swap provider."""
