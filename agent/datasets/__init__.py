"""Fine-tuning datasets from the answer log: examples, formats, RAFT, splitting."""
