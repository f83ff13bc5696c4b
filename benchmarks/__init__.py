"""Benchmarks of the Seerr-family provider at scale (issue 7): ``make bench`` or ``python -m benchmarks``.

Not timed tests: a script that starts the fake server over real HTTP on 127.0.0.1 with injected
latency, seeds a large media table, drives a :class:`~aperture_plugins.PluginHost` whose
Jellyseerr provider talks to it, and reports calls seen by the server, wall time and client CPU
time. Modules: ``world`` (seeding the fake, building the host), ``scenarios`` (what is measured),
``report`` (the rich table and ``results.json``), ``__main__`` (the command line).
"""
