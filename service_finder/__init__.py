"""Crisis Care Service Finder."""

__version__ = "0.1.0"
