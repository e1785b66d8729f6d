"""The customer register on the console: what staff may do with customers, the access
records every open, reveal and search leaves, and the queries behind the list."""
