"""Administration of staff accounts, devices, branches and roles, over the server's admin API.

Online only: nothing here is cached or written to disk.  Answers are parsed into typed,
frozen models (enrollment codes stay in ``SecretStr``); failures are ``ConsoleError``\\ s
whose messages are fit for the screen."""
