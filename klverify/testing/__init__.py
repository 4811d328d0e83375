"""klverify's pytest integration: the plugin, its fixtures and the comparisons behind them.

``klverify.testing.plugin`` is registered through the ``pytest11`` entry point, so
``pip install klverify`` is all a project needs. This package imports nothing at import
time (no numpy, no framework), so loading the plugin costs pytest almost nothing; the
comparisons in :mod:`klverify.testing.assertions` load numpy when a test first uses them.
"""
