"""elflow: storage."""
