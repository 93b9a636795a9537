"""Crisis Care Service Finder."""

__version__ = "0.2.0"
