"""The console's side of sync: the local tables, the engine that pushes, pulls, rebases and
uploads access records, and the controller that runs it for the signed-in session.
docs/console-sync.md describes the design."""
