"""Helpers the tests share: databases on both backends, servers in threads, raw clients."""
