"""The Litestar REST API for operators (issue #5: not built yet)."""
