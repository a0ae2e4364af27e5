"""Django's PostgreSQL backend, its pool checking connections without a round trip
(parloir/db.py: check_pooled_connection)."""
