"""Root conftest: the native-stack and lakehouse fixtures are shared by every phase's tests.

``make test`` runs pytest with two xdist workers (``-n 2 --dist loadgroup``): every test
that uses the native stack (its fixtures need ``native_stack``) is in one group,
``platform``, which one worker runs in collection order against the one stack of the
session (the phases' tests build on each other's data, the e2e tests come last). The
others need no shared service (unit tests, and integration tests against private engines
of their own, e.g. the scoring API's outage tests) and are spread over both workers, so
they run beside the platform's tests.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["fraud_testing.stack", "fraud_testing.lakehouse"]

#: the xdist group of the tests that share the native stack
PLATFORM_GROUP = "platform"


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "native_stack" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(PLATFORM_GROUP))
