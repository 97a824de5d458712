# -*- test-case-name: tests.muc.test_owner -*-
"""
The configuration form (muc#roomconfig, XEP-0045 section 15.5.3): field
makers for the modules that own each field, the form a room sends, and
the reading of a submitted form into a new L{RoomConfig}.

A value of the wrong type (a boolean that is not one, a number that is
not a number) is C{bad-request}; a well-typed value the service refuses
(an option not offered, a number past a limit) is C{not-acceptable}
(section 10.2: "cannot be processed or violate service policies").
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from twisted.words.xish import domish

from xmuc.core.errors import BadRequest, NotAcceptable
from xmuc.muc.forms import FormField, SubmittedForm, formElement, parseBoolean
from xmuc.muc.model import RoomConfig
from xmuc.muc.ns import NS_MUC_ROOMCONFIG
from xmuc.muc.registry import ConfigField


def one(var: str, values: tuple[str, ...]) -> str:
    """
    The single value of a field; an empty field is an empty string.
    """
    if len(values) > 1:
        raise BadRequest(f"{var} takes one value")
    return values[0] if values else ""


def _attribute(name: str) -> Callable[[Any], Any]:
    return lambda room: getattr(room.config, name)


def booleanField(var: str, label: str, attribute: str, order: int) -> ConfigField:
    get = _attribute(attribute)
    return ConfigField(
        var, "boolean", label, attribute,
        read=lambda room: ("1" if get(room) else "0",),
        write=lambda values, settings: parseBoolean(var, one(var, values)),
        order=order,
    )


def textField(var: str, label: str, attribute: str, order: int,
              kind: str = "text-single", maxLength: int = 1000) -> ConfigField:
    get = _attribute(attribute)

    def write(values: tuple[str, ...], settings: Any) -> str:
        text = one(var, values)
        if len(text) > maxLength:
            raise NotAcceptable(f"{var} is longer than {maxLength} characters")
        return text

    return ConfigField(var, kind, label, attribute, read=lambda room: (get(room),),
                       write=write, order=order)


def listField(var: str, label: str, attribute: str, options: tuple[tuple[str, str], ...],
              order: int) -> ConfigField:
    get = _attribute(attribute)
    allowed = {value for value, _ in options}

    def write(values: tuple[str, ...], settings: Any) -> str:
        value = one(var, values)
        if value not in allowed:
            raise NotAcceptable(f"{var}: {value!r} is not an option")
        return value

    return ConfigField(var, "list-single", label, attribute, read=lambda room: (get(room),),
                       write=write, options=options, order=order)


def integer(var: str, text: str, least: int = 0) -> int:
    """
    A whole number field value.

    @raise BadRequest: when it is not a number at all.
    @raise NotAcceptable: when it is below C{least}.
    """
    try:
        value = int(text.strip())
    except ValueError:
        raise BadRequest(f"{var}: {text!r} is not a number") from None
    if value < least:
        raise NotAcceptable(f"{var}: {value} is below {least}")
    return value


def configForm(room: Any) -> domish.Element:
    """
    The room's configuration form with its current values.
    """
    fields = [
        FormField(f.var, f.kind, f.label, f.read(room), f.options)
        for f in room.registry.fields()
    ]
    return formElement("form", NS_MUC_ROOMCONFIG, fields,
                       title=f"Configuration of {room.address}")


def applyForm(room: Any, form: SubmittedForm) -> RoomConfig:
    """
    The configuration a submitted form asks for; fields not submitted keep
    their value, unknown fields are ignored (XEP-0004 section 3.2).
    """
    if form.formType not in (None, NS_MUC_ROOMCONFIG):
        raise BadRequest("not a muc#roomconfig form")
    changes: dict[str, Any] = {}
    for field in room.registry.fields():
        values = form.values.get(field.var)
        if values is not None and field.write is not None and field.attribute:
            changes[field.attribute] = field.write(values, room.settings)
    return replace(room.config, **changes)
