"""Writing fine-tuning datasets from the answer log (``askloop export``)."""
