"""Test helpers shared by several test folders (real servers and proxies on 127.0.0.1)."""
