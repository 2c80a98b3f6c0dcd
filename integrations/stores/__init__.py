"""Knowledge-base stores behind the ``VectorStore`` port: embedded LanceDB and Weaviate."""
