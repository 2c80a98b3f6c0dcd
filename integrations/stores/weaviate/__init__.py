"""The Weaviate knowledge base (remote, cloud or embedded), one tenant per askloop tenant."""
