"""The REST API tests share one running platform per package (see ``platform_testkit``)."""

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

sys.path.insert(0, str(Path(__file__).parent))

from platform_testkit import Platform, running_platform


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def platform(
    make_database, nats_url, _smtp_sink_session, tmp_path_factory
) -> AsyncIterator[Platform]:
    async with running_platform(
        make_database,
        nats_url,
        _smtp_sink_session.url,
        tmp_path_factory.mktemp("rest-secrets"),
        "rest",
    ) as running:
        yield running
