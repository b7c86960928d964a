"""The button's tests use the admin tests' users and contacts."""

from tests.admin.conftest import (  # noqa: F401
    caller,
    caller_client,
    contacts,
    viewer,
    viewer_client,
)
