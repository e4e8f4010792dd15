"""Embedded models (the offline ``tiny`` model) and model-name resolution."""
