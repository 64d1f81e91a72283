"""jux-submit: carry JUnit XML test reports from any CI pipeline into a Jux server."""

# Kept as a literal (not importlib.metadata) so that `--version` imports nothing heavy.
__version__ = "1.0.0"
