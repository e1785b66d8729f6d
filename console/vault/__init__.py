"""The console's encrypted local vault: a SQLCipher 4 database keyed with a random key that
is wrapped under the user's password (and kept in the OS keyring where there is one).
docs/console-security.md describes the files, the formats and the errors."""
