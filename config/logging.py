"""A logging filter that keeps health data out of every log line.

Installed on every handler (settings.LOGGING), so it sees records from every logger,
ours and the libraries'. A record whose message carries an answer, a score, a band or a
check-in's answers is rewritten to a fixed placeholder before any handler formats it:
such a line cannot be written. Ids, counts and status codes pass through unchanged.
"""

import logging
import re

REDACTED = "[redacted: the message carried health data]"

# Field names that only ever hold health data in this system (answers, scores and what is
# derived from them), followed by a value: "total=12", "'band': 'severe'", "item9: 3".
_HEALTH_FIELD = re.compile(
    r"""(?ix)
    ["']?\b(
        answers?|item\d+|q\d+(_recent)?|total|score|scores|band|subscales|flags|
        baseline|best_score|phq-?9|gad-?7|pcl-?5|epds|c-ssrs|mood|pain(-nrs)?|peg|
        suicid\w*|self[-_ ]harm
    )\b["']?\s*[:=]\s*\S
    """
)


_formatter = logging.Formatter()


def carries_health_data(text: str) -> bool:
    return bool(_HEALTH_FIELD.search(text))


class HealthDataFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the template, drop the values
            message = str(record.msg)
            record.args = ()
        exc_text = record.exc_text
        if record.exc_info and not exc_text:
            exc_text = _formatter.formatException(record.exc_info)
        if carries_health_data(message) or (exc_text and carries_health_data(exc_text)):
            record.msg = REDACTED
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True
