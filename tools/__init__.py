"""Developer tools, run as scripts from the repository (`python tools/<name>.py`); a package only so that
the larger ones (tools/soak/) can be imported by their entry script and by the tests."""
