"""The contact-call tests use the admin tests' users and contacts."""

from tests.admin.conftest import caller, contacts  # noqa: F401
