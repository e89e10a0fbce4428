"""The Litestar REST API for operators and integrations."""
