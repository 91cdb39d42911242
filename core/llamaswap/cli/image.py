"""``llamaswap image PROMPT --model M -o FILE``: render, with a spinner and elapsed time.

The file is written only once the whole image has arrived (through a temporary file in
the same directory), so Ctrl-C or a failure never leaves a partial image behind.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from llamaswap import GeneratedImage, LlamaSwapProvider
from llamaswap.cli.background import Worker
from llamaswap.cli.errors import EXIT_OK, Interrupted, UsageError
from llamaswap.cli.progress import LiveLine
from llamaswap.cli.terminal import Terminal

TICK = 0.1


def image(provider: LlamaSwapProvider, args: argparse.Namespace, term: Terminal) -> int:
    """Generate one image with ``args.model`` and save it to ``args.output``."""
    output = Path(args.output).expanduser()
    if output.is_dir():
        raise UsageError(f"-o {args.output} is a directory", "give a file name, e.g. -o out.png")
    if not output.parent.is_dir():
        raise UsageError(
            f"cannot write {args.output}: the directory {output.parent} does not exist",
            "create it first, or pick another -o path",
        )
    started = time.monotonic()

    def render() -> GeneratedImage:
        try:
            result = provider.generate_image(
                args.prompt, model=args.model, size=args.size, seed=args.seed
            )
        except ValueError as exc:  # the arguments, refused before anything was sent
            raise UsageError(str(exc), "llamaswap image --help") from None
        return result.images[0]  # the provider raises when the server sent no image

    worker = Worker(render, name="image")
    try:
        with LiveLine(term, f"rendering with {args.model}") as line:
            while not worker.wait(TICK):
                line.update()
            picture = worker.result()
    except KeyboardInterrupt:
        raise Interrupted(
            f"stopped rendering; no file written, and {args.model} stays as llama-swap has it"
        ) from None
    seconds = time.monotonic() - started
    _write_atomically(output, picture.data)
    if args.json:
        term.json(
            {
                "path": str(output),
                "model": args.model,
                "mime_type": picture.mime_type,
                "bytes": len(picture.data),
                "seconds": round(seconds, 3),
                "size": args.size,
                "seed": args.seed,
                "revised_prompt": picture.revised_prompt,
            }
        )
    else:
        term.line(
            f"wrote {output} ({picture.mime_type}, {len(picture.data)} bytes) in {seconds:.1f}s"
        )
    return EXIT_OK


def _write_atomically(path: Path, data: bytes) -> None:
    """Write next to ``path`` and rename, so ``path`` is never a partial file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
