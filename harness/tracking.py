"""The old import path of ``harness.running.tracking``, kept for plugins written against it.

The module itself is put in this name's place, so both names are one module (a patch or an
attribute set through either is seen through the other). New code imports ``harness.running.tracking``
or what ``import harness`` re-exports.
"""

import importlib
import sys

sys.modules[__name__] = importlib.import_module("harness.running.tracking")
