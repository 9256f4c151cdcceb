"""elflow: settlement."""
