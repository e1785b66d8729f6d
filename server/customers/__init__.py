"""The customer register: encrypted personal fields, keyed-hash search, crypto-shredding."""
