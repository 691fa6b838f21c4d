"""REST routers under /api/v1, one module per lab."""
