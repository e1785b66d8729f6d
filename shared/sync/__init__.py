"""The sync protocol both sides speak: messages, and the client's state machine.

Pure code in the style of h11: objects take messages and return decisions; the console's
engine and the server's endpoints do the I/O."""
