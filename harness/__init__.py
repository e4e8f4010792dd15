"""calibration-harness: measure and train how well a model's confidence matches its accuracy.

Plugins import ``harness.hookimpl`` to implement the hooks of ``harness.hookspecs``.
Nothing heavy is imported here: torch, transformers and API SDKs load inside the
strategies that need them.
"""

from harness.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["hookimpl", "__version__"]
