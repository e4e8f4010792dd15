"""A careless third-party plugin: every module is one mistake a plugin author can make."""
