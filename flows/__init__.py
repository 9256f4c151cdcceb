"""elflow: flows."""
