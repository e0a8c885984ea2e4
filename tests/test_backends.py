"""Says, as one skip, when this run could not test on PostgreSQL."""

import pytest

from tests.conftest import POSTGRES_PROBLEM


def test_postgresql_is_part_of_this_run() -> None:
    if POSTGRES_PROBLEM:
        pytest.skip(
            f"{POSTGRES_PROBLEM}: its tests are left out (start it there, or set TEST_DATABASE_URL;"
            " REQUIRE_POSTGRES=1 fails instead)"
        )
