"""Container entrypoint: runs the jux-submit CLI and nothing else."""

from jux_submit.cli import main

if __name__ == "__main__":
    main()
