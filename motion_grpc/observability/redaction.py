"""Redis URLs as they may be shown: in log lines, messages and output, without their secrets.

A production URL carries the ACL password (`redis://user:password@host`), and
redis-py also reads one from the query (`?password=...`); log lines end up in
collectors many people read, so the secret parts are replaced before a URL is shown.
"""

from __future__ import annotations

import re

#: What stands in for a secret.
HIDDEN = "***"
#: Query parameters whose value is a secret (matched anywhere in the name, any case).
_SECRET_PARAMETER = re.compile(r"pass|pwd|token|secret|key|auth|credential|sig", re.IGNORECASE)


def redacted_url(url: str) -> str:
    """`url` with its password and secret-looking query values replaced by HIDDEN; the rest kept.

    A user name alone (`redis://name@host`) is hidden too: people put the password there.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    location, mark, query = rest.partition("?")
    userinfo, at, address = location.rpartition("@")
    if at:
        user, colon, _ = userinfo.partition(":")
        location = f"{user}:{HIDDEN}@{address}" if colon else f"{HIDDEN}@{address}"
    return f"{scheme}://{location}{mark}{_redacted_query(query)}"


def _redacted_query(query: str) -> str:
    parameters = []
    for parameter in query.split("&") if query else []:
        name, equals, _ = parameter.partition("=")
        secret = equals and _SECRET_PARAMETER.search(name)
        parameters.append(f"{name}={HIDDEN}" if secret else parameter)
    return "&".join(parameters)


__all__ = ["HIDDEN", "redacted_url"]
