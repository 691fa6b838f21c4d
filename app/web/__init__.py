"""Page routes and htmx partials, one module per lab."""
