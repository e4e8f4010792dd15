"""Using what a run found: a calibrated predictor shipped as a bundle folder.

- ``bundle``: the bundle's format (``bundle.json``, versioned) and how it is read back;
- ``export``: ``harness export`` — a run's row written as a bundle, with its sets kept apart;
- ``answering``: questions answered with a bundle (backend, extractor, map, threshold);
- ``predict``: ``harness predict`` — a questions file answered into a resumable JSONL file;
- ``serve``: ``harness serve`` — an OpenAI-compatible chat-completions endpoint in front of it.
"""
