"""The command's entry point, importing nothing heavy itself: a Ctrl-C while the program is
still starting (importing Textual, say) ends it as quietly as one a moment later."""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from tui_insert.cli import main as command
    except KeyboardInterrupt:
        print("tui-insert: interrupted", file=sys.stderr)
        return 130
    return command()
