"""Place DialogTech Click-to-Agent calls from Django."""

__version__ = "0.1.0"
