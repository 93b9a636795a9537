"""Crisis Care Service Finder."""
