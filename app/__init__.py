"""ReelDrop: drop a video, it is compressed, uploaded, processed, and the results come back."""

__version__ = "0.1.0"
