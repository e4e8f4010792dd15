"""The experiment (filled in by the experiment issue)."""
