"""``python -m jux_submit``: the same as the console script."""

from jux_submit.cli import main

main()
