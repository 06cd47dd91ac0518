"""Fixtures shared by the CRM tests."""

from crm.tests.mailtools import smtp_down, smtp_server  # noqa: F401 (SMTP server on loopback for the email tests)
