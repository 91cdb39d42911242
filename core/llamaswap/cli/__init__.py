"""The ``llamaswap`` command line: manage a llama-swap from a terminal.

Installed as the ``llamaswap`` console script and runnable as ``python -m llamaswap``. It
needs the ``[cli]`` extra (rich for tables and progress, the OpenAI SDK for ``chat``) and
uses only the provider's public API. ``import llamaswap`` never imports this package.
"""

from llamaswap.cli.main import main

__all__ = ["main"]
