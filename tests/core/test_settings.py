import pytest
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured

from clicktoagent.conf import DEFAULTS, app_settings


def test_defaults_apply_without_a_setting(settings) -> None:
    del settings.CLICKTOAGENT
    assert DEFAULTS["MAX_TRIES"] == app_settings.MAX_TRIES
    assert app_settings.BASE_URL == "https://secure.dialogtech.com/ibp_api.php"


def test_unknown_key_fails_loudly_with_its_name(settings) -> None:
    settings.CLICKTOAGENT = {"READ_TIMEUOT": 3}
    with pytest.raises(ImproperlyConfigured, match="READ_TIMEUOT"):
        _ = app_settings.READ_TIMEOUT


def test_settings_are_reread_when_overridden(settings) -> None:
    settings.CLICKTOAGENT = {"READ_TIMEOUT": 3.5}
    assert app_settings.READ_TIMEOUT == 3.5
    settings.CLICKTOAGENT = {"READ_TIMEOUT": 7.0}
    assert app_settings.READ_TIMEOUT == 7.0


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _ = app_settings.NO_SUCH_SETTING


def check_ids() -> set[str]:
    return {message.id for message in run_checks() if message.id}


def test_system_check_reports_missing_credentials(settings) -> None:
    settings.CLICKTOAGENT = {"ACCESS_KEY": "", "SECRET_ACCESS_KEY": ""}
    assert "clicktoagent.W001" in check_ids()
    settings.CLICKTOAGENT = {"ACCESS_KEY": "a", "SECRET_ACCESS_KEY": "b"}
    assert "clicktoagent.W001" not in check_ids()


def test_system_check_reports_bad_values(settings) -> None:
    settings.CLICKTOAGENT = {"BASE_URL": "secure.dialogtech.com", "DEFAULT_WARNING": 9}
    ids = check_ids()
    assert {"clicktoagent.E002", "clicktoagent.E004"} <= ids
    settings.CLICKTOAGENT = {"TYPO": 1}
    assert "clicktoagent.E001" in check_ids()


def test_system_check_reports_bad_deadlines(settings) -> None:
    settings.CLICKTOAGENT = {"TOTAL_TIMEOUT": -1, "RECONCILE_DISPATCHING_MARGIN": 0}
    assert {"clicktoagent.E005", "clicktoagent.E006"} <= check_ids()
    settings.CLICKTOAGENT = {"TOTAL_TIMEOUT": 12.5, "RECONCILE_DISPATCHING_MARGIN": 30}
    assert not {"clicktoagent.E005", "clicktoagent.E006"} & check_ids()
