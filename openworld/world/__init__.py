"""The world model: a world file becomes a validated spec (:mod:`~openworld.world.spec`), a spec an
:class:`~openworld.world.engine.Engine` that steps ``B`` worlds as arrays, its changes a compiled shift
schedule (:mod:`~openworld.world.shifts`). Imports only the leaf modules of :mod:`openworld`
(``docs/architecture.md``)."""
