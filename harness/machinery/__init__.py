"""Plugin machinery: how strategies reach the core.

``hookspecs`` (the hooks a plugin implements), ``plugin_loading`` (entry points, isolation of a
broken plugin), ``kinds`` (the table of strategy kinds and their protocols' members),
``registry`` (the one object owning plugin state: ``create``, ``names``, ``info``), ``config`` and
``params`` (a strategy's parameters and where each value came from), ``contract`` (the checks at
the boundary that name the plugin). This layer imports nothing from the other subpackages.
"""
