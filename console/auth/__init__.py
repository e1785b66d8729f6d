"""Signing in, the signed-in session and its device key.  docs/console-security.md
describes the flows; :mod:`console.auth.session` is the interface other parts build on."""
