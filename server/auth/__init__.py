"""Identity and access: staff accounts, roles and permissions, passwords, TOTP, devices,
tokens and sessions, throttling and security events."""
