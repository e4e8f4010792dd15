"""Built-in strategies. Each subpackage is a plugin registered through the ``harness``
entry points, exactly like a third-party plugin."""
