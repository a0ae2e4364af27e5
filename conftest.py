import pytest


@pytest.fixture(autouse=True)
def _outbox_in_tmp(settings, tmp_path):
    # Each test gets its own outbox file so assertions never see another test's messages.
    settings.OUTBOX_PATH = tmp_path / "outbox.jsonl"
    # And its own audit anchors: sequence numbers start again in each test's database.
    settings.AUDIT_ANCHOR_FILE = tmp_path / "audit-anchors.log"


@pytest.fixture(scope="session", autouse=True)
def _close_connections_of_asgirefs_thread(django_db_setup):
    """Async code in tests (consumers, ASGI streaming) queries the database from
    asgiref's one thread for thread-sensitive work, which keeps its connection as a
    server thread would: closed here, so that pytest-django can drop the test database."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(10)
