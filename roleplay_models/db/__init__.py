"""The edge to the server: connecting, what the server can do, indexes, and write locks."""
