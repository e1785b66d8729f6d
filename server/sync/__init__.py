"""The server side of sync: clients and their mutation ids, the change feed, long-poll."""
