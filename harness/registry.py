"""The old import path of ``harness.machinery.registry`` (``from harness import registry``, as
CONTRIBUTING's testing example and older plugins write it).

The module itself is put in this name's place, so both names are one module with one plugin
state (a patch or an attribute set through either is seen through the other).
"""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("harness.machinery.registry")
