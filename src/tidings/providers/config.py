"""Building providers from ``tidings.toml`` and ``TIDINGS_*`` environment variables.

In ``tidings.toml``, each channel lists provider names in failover order, and each name
has a table of that provider's options (its constructor arguments)::

    [tidings.channels]
    email = ["resend", "smtp"]
    push = ["expo"]
    sms = ["twilio"]

    [tidings.providers.resend]
    sender = "MediLink <noreply@medilink.vn>"
    api_key_env = "RESEND_API_KEY"          # read the secret from this variable

    [tidings.providers.smtp]
    host = "smtp.internal"
    port = 587
    starttls = true
    sender = "MediLink <noreply@medilink.vn>"

    [tidings.providers.backup-sms]
    type = "twilio"                         # a name other than the type needs ``type``
    account_sid = "AC..."

Secrets belong in the environment, not the file: any option ``x`` can be given as
``x_env = "VARIABLE"``, and every option can be set or overridden by
``TIDINGS_<NAME>_<OPTION>`` (``TIDINGS_RESEND_API_KEY``, ``TIDINGS_BACKUP_SMS_AUTH_TOKEN``;
the name upper-cased with ``-`` as ``_``). ``TIDINGS_<CHANNEL>_PROVIDERS=resend,smtp``
sets a channel's list. The environment wins over the file.

Each environment may override these in its own tables (``[environments.staging.channels]``,
``[environments.production.providers.resend]``); see :mod:`tidings.settings` and
:func:`providers_from_file`.

Errors name the provider and the option at fault, never a value, so a secret pasted in
the wrong place is not echoed back.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, get_args

import pydantic

from tidings.errors import ConfigError, ValidationError
from tidings.providers.base import Channel, Provider
from tidings.providers.expo import Expo
from tidings.providers.resend import Resend
from tidings.providers.smtp import Smtp
from tidings.providers.twilio import Twilio
from tidings.settings import (
    EnvironmentSettings,
    check_name,
    environment_settings,
    provider_table,
    read_config_file,
)

CHANNELS: tuple[Channel, ...] = get_args(Channel)


class _Options(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: str
    timeout: float | None = None
    max_attempts: int | None = None
    rate_limit: float | None = None


class SmtpOptions(_Options):
    host: str
    port: int = 25
    sender: str
    username: str | None = None
    password: pydantic.SecretStr | None = None
    starttls: bool = False
    ssl: bool = False
    ca_file: str | None = None
    """A PEM bundle trusted for the relay's certificate (default: the system's CAs)."""
    unsubscribe_url: str | None = None


class ResendOptions(_Options):
    api_key: pydantic.SecretStr
    sender: str
    base_url: str = "https://api.resend.com"
    webhook_secret: pydantic.SecretStr | None = None
    unsubscribe_url: str | None = None


class ExpoOptions(_Options):
    access_token: pydantic.SecretStr | None = None
    base_url: str = "https://exp.host"
    sound: str | None = "default"


class TwilioOptions(_Options):
    model_config = pydantic.ConfigDict(populate_by_name=True)

    account_sid: str
    auth_token: pydantic.SecretStr
    from_: str | None = pydantic.Field(default=None, alias="from")
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    base_url: str = "https://api.twilio.com"


def _smtp(o: SmtpOptions) -> Provider:
    context = ssl.create_default_context(cafile=o.ca_file) if o.ca_file else None
    return Smtp(
        o.host, o.port, sender=o.sender, username=o.username, password=_reveal(o.password),
        starttls=o.starttls, ssl=o.ssl, tls_context=context,
        unsubscribe_url=o.unsubscribe_url, **_common(o),
    )  # fmt: skip


def _resend(o: ResendOptions) -> Provider:
    return Resend(
        o.api_key.get_secret_value(), o.sender, o.base_url, _reveal(o.webhook_secret),
        unsubscribe_url=o.unsubscribe_url, **_common(o),
    )  # fmt: skip


def _expo(o: ExpoOptions) -> Provider:
    return Expo(_reveal(o.access_token), o.base_url, sound=o.sound, **_common(o))


def _twilio(o: TwilioOptions) -> Provider:
    return Twilio(
        o.account_sid, o.auth_token.get_secret_value(), o.from_, o.messaging_service_sid,
        o.status_callback, o.base_url, **_common(o),
    )  # fmt: skip


_BUILDERS: dict[str, tuple[type[_Options], Callable[[Any], Provider]]] = {
    "smtp": (SmtpOptions, _smtp),
    "resend": (ResendOptions, _resend),
    "expo": (ExpoOptions, _expo),
    "twilio": (TwilioOptions, _twilio),
}


def providers_from_config(
    mapping: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[Channel, list[Provider]]:
    """Providers per channel, in failover order, from the ``[tidings]`` table.

    Args:
        mapping: The ``[tidings]`` table of ``tidings.toml`` (or any mapping with its
            ``channels`` and ``providers`` keys); other keys are ignored.
        environ: The environment to read ``TIDINGS_*`` and ``*_env`` variables from
            (default: ``os.environ``).

    Raises:
        ConfigError: an unknown channel, provider name, type or option; a missing or
            malformed option; a provider listed under a channel it cannot send.
    """
    env = os.environ if environ is None else environ
    channels = _channels(mapping.get("channels") or {}, env)
    tables = mapping.get("providers") or {}
    if not isinstance(tables, Mapping):
        raise ConfigError("[tidings.providers] must be a table of provider tables")
    built: dict[str, Provider] = {}
    result: dict[Channel, list[Provider]] = {}
    for channel, names in channels.items():
        for name in names:
            if name not in built:
                built[name] = _build(name, tables.get(name), env)
            provider = built[name]
            if channel not in provider.channels:
                raise ConfigError(
                    f"provider {name!r} ({provider.name}) cannot send {channel}; it sends "
                    f"{', '.join(sorted(provider.channels))}"
                )
            result.setdefault(channel, []).append(provider)
    return result


def channel_names(
    mapping: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> dict[Channel, list[str]]:
    """The provider names per channel that :func:`providers_from_config` would build
    (``TIDINGS_<CHANNEL>_PROVIDERS`` included), without building them."""
    return _channels(mapping.get("channels") or {}, os.environ if environ is None else environ)


def _channels(table: Any, env: Mapping[str, str]) -> dict[Channel, list[str]]:
    if not isinstance(table, Mapping):
        raise ConfigError("[tidings.channels] must map a channel to a list of provider names")
    merged: dict[str, Any] = dict(table)
    for channel in CHANNELS:
        value = env.get(f"TIDINGS_{channel.upper()}_PROVIDERS")
        if value is not None:
            merged[channel] = [n.strip() for n in value.split(",") if n.strip()]
    result: dict[Channel, list[str]] = {}
    for key, names in merged.items():
        found: list[Channel] = [c for c in CHANNELS if c == key]
        if not found:
            raise ConfigError(
                f"unknown channel {key!r} in [tidings.channels] (known: "
                f"{', '.join(CHANNELS)}; in_app needs no provider)"
            )
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(f"channels.{key} must be a list of provider names")
        if len(set(names)) != len(names):
            raise ConfigError(f"channels.{key} names a provider twice")
        result[found[0]] = names
    return result


def _build(name: str, table: Any, env: Mapping[str, str]) -> Provider:
    options = _options(name, table, env)
    kind = options.get("type", name)
    if kind not in _BUILDERS:
        raise ConfigError(
            f"provider {name!r}: unknown type {kind!r} (known: {', '.join(_BUILDERS)}); "
            'a table named other than its type needs type = "smtp" or the like'
        )
    model, build = _BUILDERS[kind]
    try:
        parsed = model.model_validate({**options, "type": kind})
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'options'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigError(f"provider {name!r} ({kind}): {problems}") from None
    try:
        return build(parsed)
    except ValidationError as exc:
        raise ConfigError(f"provider {name!r} ({kind}): {exc}") from None


def _options(name: str, table: Any, env: Mapping[str, str]) -> dict[str, Any]:
    if table is None:
        table = {}
    if not isinstance(table, Mapping):
        raise ConfigError(f"[tidings.providers.{name}] must be a table of options")
    options: dict[str, Any] = {}
    for key, value in table.items():
        if key.endswith("_env"):
            variable = str(value)
            if variable not in env:
                raise ConfigError(f"provider {name!r}: {key} names ${variable}, which is not set")
            options[key.removesuffix("_env")] = env[variable]
        else:
            options[key] = value
    prefix = f"TIDINGS_{name.upper().replace('-', '_')}_"
    for variable, value in env.items():
        if variable.startswith(prefix) and not variable.endswith("_PROVIDERS"):
            options[variable.removeprefix(prefix).lower()] = value
    if not options:
        raise ConfigError(
            f"provider {name!r} is listed under a channel but has no [tidings.providers."
            f"{name}] table and no {prefix}* variables"
        )
    return options


def _common(o: _Options) -> dict[str, Any]:
    """timeout / max_attempts / rate_limit when given, else the provider's defaults;
    ``rate_limit = 0`` lifts a provider's default limit."""
    given: dict[str, Any] = {
        k: v
        for k, v in {"timeout": o.timeout, "max_attempts": o.max_attempts}.items()
        if v is not None
    }
    if o.rate_limit is not None:
        given["rate_limit"] = o.rate_limit or None
    return given


def _reveal(secret: pydantic.SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def providers_from_file(
    directory: Path | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    environment: str | None = None,
) -> dict[Channel, list[Provider]]:
    """:func:`providers_from_config` over ``./tidings.toml`` (or ``directory``'s), for one
    environment.

    ``environment`` defaults to ``$TIDINGS_ENV``, then ``environment`` in ``[tidings]``;
    its ``[environments.<name>.channels]`` replaces the lists of the channels it names and
    ``[environments.<name>.providers.<provider>]`` the whole table of that provider. With
    no environment named anywhere, ``[tidings]`` alone is used.
    """
    env = os.environ if environ is None else environ
    settings = read_config_file(directory)  # checks [tidings] itself
    name = environment or env.get("TIDINGS_ENV") or settings.environment
    if not name:
        table = {"channels": settings.channels or {}, "providers": settings.providers or {}}
        return providers_from_config(table, environ)
    per_env = environment_settings(check_name(name), directory)
    return providers_from_config(provider_table(per_env), environ)


def provider_problem(settings: EnvironmentSettings) -> str | None:
    """Why an environment's providers cannot be built (None if they can); the message
    names providers and options, never a value. ``tidings config check`` passes it to
    :func:`tidings.settings.check_config`."""
    try:
        providers_from_config(provider_table(settings))
    except ConfigError as exc:
        return str(exc)
    return None
