"""elflow: schemas."""
