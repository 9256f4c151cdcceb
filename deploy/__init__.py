"""elflow: deploy."""
