"""Loading, chunking and writing documents into the knowledge base."""
