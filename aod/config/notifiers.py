"""`notifiers.NAME`: where notifications go. `kind` picks the plugin (aod/plugins/notifier/);
each kind's model adds its keys to the ones every kind shares.

One job: the notifier models, the union of them that `Config.notifiers` holds, and the wording
of their errors as the user wrote the keys (pydantic's own name the union's tags). May import:
pydantic and this package's `fields`.
"""

from __future__ import annotations

import difflib
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic_core import ErrorDetails, InitErrorDetails

from aod.config.fields import (
    AGENT_NAME,
    MINUTE,
    HttpUrl,
    Integer,
    PositiveDuration,
    Priority,
    SecretHttpUrl,
    Section,
    at_most,
)


def _some_priority(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("list at least one priority (or remove this notifier)")
    return value


def _ntfy_topic(value: str) -> str:
    # On a public server the topic is what keeps others from reading along: never echoed.
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        raise ValueError("must be 1 to 64 letters, digits, `_` or `-`")
    return value


class NotifierConfig(Section):
    """`notifiers.NAME`: one destination. `kind` picks the plugin; the rest are its settings.

    This is the part every kind shares; each kind below adds its own keys, and `extra="forbid"`
    (from `Section`) makes a key of another kind, or a typo, an error with its line.
    """

    kind: str
    # Which notifications this destination gets; the built-in `log` notifier gets every one.
    priorities: Annotated[list[Priority], AfterValidator(_some_priority)] = Field(
        default_factory=lambda: ["urgent", "action", "warning", "info"]
    )
    # Each attempt; a receiver that hangs must not hold the notification (or aod) hostage.
    timeout: Annotated[PositiveDuration, at_most(MINUTE)] = 10.0
    # Attempts after the first, with exponential backoff (for 429, 5xx, timeouts, no network).
    retries: Annotated[Integer, Field(ge=0, le=20)] = 4

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line or a reply (the router redacts them)."""
        return []


def _bearer_token(value: SecretStr) -> SecretStr:
    # It goes into an Authorization header: one printable ASCII word (and it is never echoed).
    text = value.get_secret_value()
    if not text or not text.isascii() or not text.isprintable() or " " in text:
        raise ValueError("must be one word of printable ASCII (an ntfy access token, tk_...)")
    return value


# Set by the webhook notifier itself; a user header must not replace them.
_OWN_HEADERS = ("content-type", "content-length", "host", "user-agent")
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # RFC 9110 token


def _extra_headers(value: dict[str, str]) -> dict[str, str]:
    for name, text in value.items():
        if not _HEADER_NAME.match(name):
            raise ValueError(f"header name {name!r} is not valid (letters, digits and -)")
        if name.lower() in _OWN_HEADERS or name.lower().startswith("x-ao-"):
            raise ValueError(f"header {name!r} is set by aod and cannot be replaced")
        # The value may be a credential (Authorization): never echo it.
        if not (text.isascii() and text.isprintable()):
            raise ValueError(f"the value of header {name!r} must be printable ASCII on one line")
    return value


class LogNotifierConfig(NotifierConfig):
    kind: Literal["log"]


class DesktopNotifierConfig(NotifierConfig):
    kind: Literal["desktop"]


class WebhookNotifierConfig(NotifierConfig):
    kind: Literal["webhook"]
    url: HttpUrl
    # Signs each body (X-AO-Signature: sha256=HMAC) so the receiver can tell it came from aod.
    secret: SecretStr | None = None
    headers: Annotated[dict[str, str], AfterValidator(_extra_headers)] = Field(default_factory=dict, repr=False)

    def secrets(self) -> list[str]:
        found = [self.secret.get_secret_value()] if self.secret else []
        # A header may carry a credential (Authorization); short values would only mangle text.
        return found + [value for value in self.headers.values() if len(value) >= 8]


class SlackNotifierConfig(NotifierConfig):
    kind: Literal["slack"]
    url: SecretHttpUrl  # an incoming-webhook URL is itself the credential

    def secrets(self) -> list[str]:
        return [self.url.get_secret_value()]


class DiscordNotifierConfig(NotifierConfig):
    kind: Literal["discord"]
    url: SecretHttpUrl

    def secrets(self) -> list[str]:
        return [self.url.get_secret_value()]


class NtfyNotifierConfig(NotifierConfig):
    kind: Literal["ntfy"]
    url: HttpUrl = "https://ntfy.sh"
    # On the public server anyone who knows the topic reads it: pick one that is hard to guess.
    topic: Annotated[str, AfterValidator(_ntfy_topic)]
    token: Annotated[SecretStr, AfterValidator(_bearer_token)] | None = None

    def secrets(self) -> list[str]:
        return [self.token.get_secret_value()] if self.token else []


NOTIFIER_KINDS: dict[str, type[NotifierConfig]] = {
    "log": LogNotifierConfig,
    "desktop": DesktopNotifierConfig,
    "webhook": WebhookNotifierConfig,
    "slack": SlackNotifierConfig,
    "discord": DiscordNotifierConfig,
    "ntfy": NtfyNotifierConfig,
}
AnyNotifierConfig = Annotated[
    LogNotifierConfig
    | DesktopNotifierConfig
    | WebhookNotifierConfig
    | SlackNotifierConfig
    | DiscordNotifierConfig
    | NtfyNotifierConfig,
    Discriminator("kind"),
]
BUILTIN_NOTIFIER = "log"  # always on, whatever the config says; the name is taken


class PluginNotifierConfig(NotifierConfig):
    """`notifiers.NAME` of an installed plugin's kind (entry points `aod.notifiers`,
    docs/plugins.md): the keys every kind shares, and the plugin's own keys, handed to it as
    they are (`settings()`); the plugin checks them when it is made."""

    model_config = ConfigDict(extra="allow", frozen=True)

    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def _plugin_kind(kind: Any) -> bool:
    from aod.config.plugins import installed_names

    return isinstance(kind, str) and kind not in NOTIFIER_KINDS and kind in installed_names("notifier")


def _notifier_entries(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate `notifiers`, rewriting pydantic's errors into what the user wrote.

    pydantic puts the discriminator's tag into an error's location (`notifiers.team.slack.url`),
    which is neither the key path in the file nor findable by line; it reports a missing or
    unknown `kind` as jargon; and it knows no key names to suggest for a typo. Raising a
    ValidationError from here hands the rewritten errors to the loader unchanged.
    """
    if value is None:  # `notifiers:` with every entry commented out: none configured
        value = {}
    errors: list[InitErrorDetails] = []
    if isinstance(value, dict) and BUILTIN_NOTIFIER in value:
        message = f"`{BUILTIN_NOTIFIER}` is the built-in notifier (always on); give this one another name"
        errors.append(_value_error((BUILTIN_NOTIFIER,), message, value[BUILTIN_NOTIFIER]))
    # Entries of an installed plugin's kind are its own model; the rest go through the union.
    plugins: dict[str, Any] = {}
    if isinstance(value, dict):
        own = {k: v for k, v in value.items() if isinstance(v, dict) and _plugin_kind(v.get("kind"))}
        for name, entry in own.items():
            try:
                plugins[name] = PluginNotifierConfig.model_validate(entry)
            except ValidationError as exc:
                errors += [_notifier_error({**error, "loc": (name, *error["loc"])}, value) for error in exc.errors()]
        rest = {k: v for k, v in value.items() if k not in own}
    else:
        rest = value
    try:
        result = handler(rest)
    except ValidationError as exc:
        errors += [_notifier_error(error, value) for error in exc.errors()]
    if errors:
        raise ValidationError.from_exception_data("notifiers", errors)
    if plugins:
        result = {name: plugins[name] if name in plugins else result[name] for name in value}
    return result


def _notifier_error(error: ErrorDetails, entries: Any) -> InitErrorDetails:
    loc = tuple(error["loc"])
    entry = entries.get(loc[0]) if isinstance(entries, dict) and loc else None
    kind = entry.get("kind") if isinstance(entry, dict) else None
    if len(loc) >= 2 and isinstance(kind, str) and loc[1] == kind:
        loc = (loc[0], *loc[2:])  # drop the tag: the key path as written
    if error["type"] == "union_tag_not_found":
        return InitErrorDetails(type="missing", loc=(*loc, "kind"), input=entry)
    if error["type"] == "union_tag_invalid":
        from aod.config.plugins import installed_names

        kinds = [*NOTIFIER_KINDS, *installed_names("notifier")]
        expected = " or ".join(", ".join(repr(k) for k in kinds).rsplit(", ", 1))
        return InitErrorDetails(type="literal_error", loc=(*loc, "kind"), input=kind, ctx={"expected": expected})
    if error["type"] == "string_pattern_mismatch" and loc[-1:] == ("[key]",):
        message = "a notifier name is lowercase letters, digits, `.`, `_` and `-` (up to 63)"
        return _value_error(loc[:-1], message, loc[0])
    if error["type"] == "extra_forbidden" and len(loc) == 2 and not isinstance(error["input"], dict | list):
        # A typo: suggest the key meant. (A mapping or list value keeps pydantic's error, whose
        # line is the key's own; this one points at the value, the same line for a scalar.)
        known = list(NOTIFIER_KINDS[str(kind)].model_fields)
        close = difflib.get_close_matches(str(loc[1]), known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"a {kind} notifier's keys: {', '.join(known)}"
        return _value_error(loc, f"unknown key; {hint}", entry)
    return InitErrorDetails(type=error["type"], loc=loc, input=error["input"], ctx=error.get("ctx", {}))


def _value_error(loc: tuple[str | int, ...], message: str, shown: Any) -> InitErrorDetails:
    # `shown` must not be None: the loader reads a None input as "the key has no value".
    return InitErrorDetails(type="value_error", loc=loc, input=shown if shown is not None else {}, ctx={"error": message})


# What `Config.notifiers` holds: every entry's `kind` picks its model; errors as written.
Notifiers = Annotated[
    dict[Annotated[str, Field(pattern=AGENT_NAME)], AnyNotifierConfig],
    WrapValidator(_notifier_entries),
]
