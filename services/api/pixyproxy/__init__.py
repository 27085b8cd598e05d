"""PixyProxy: text prompt in, PNG out."""

__version__ = "0.1.0"
