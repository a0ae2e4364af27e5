import pytest


@pytest.fixture(autouse=True)
def _outbox_in_tmp(settings, tmp_path):
    # Each test gets its own outbox file so assertions never see another test's messages.
    settings.OUTBOX_PATH = tmp_path / "outbox.jsonl"
