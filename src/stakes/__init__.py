"""stakes."""
