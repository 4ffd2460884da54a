"""The system check that names a page channel (AFTERGLOW_STAFF_PAGE_CHANNELS) this
deployment cannot page by: such a channel is skipped when a high-risk alert pages."""

from notifications.checks import staff_page_channels_check


def test_a_configured_staff_channel_passes(settings):
    settings.AFTERGLOW_STAFF_PAGE_CHANNELS = ["sms"]
    assert staff_page_channels_check(None) == []


def test_an_unconfigured_or_patient_only_page_channel_is_a_warning(settings):
    settings.AFTERGLOW_STAFF_PAGE_CHANNELS = ["pager", "push", "sms"]
    problems = staff_page_channels_check(None)
    assert [(p.id, "'pager'" in p.msg, "'push'" in p.msg) for p in problems] == [
        ("notifications.W001", True, False),
        ("notifications.W002", False, True),
    ]
