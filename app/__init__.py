"""A visual deep-learning playground: FastAPI pages and a REST API over a pure-compute core."""
