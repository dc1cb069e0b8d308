"""Type and range checks for the settings files that override a stage's config dataclass per kind
(config/filters.yaml -> FilterConfig, config/safety.yaml -> SafetyConfig).

Those files are plain YAML merged into the dataclass, which checks nothing: `min_chars: many` failed
only when a run reached the filter, `max_word_hits_per_1k: -1` dropped every document, and
`allowed_langs: zh` became the languages 'z' and 'h'. Checked here, when the definitions load.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

Bounds = tuple[float | None, float | None]  # (min, max), None: unbounded on that side
RATIO: Bounds = (0.0, 1.0)


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


def settings_model(cls: type, bounds: dict[str, Bounds]) -> type[BaseModel]:
    """A pydantic model of `cls`'s fields: their annotated types (a YAML list fills a tuple field)
    and, for the fields named in `bounds`, the inclusive range of their value."""
    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        low, high = bounds.get(f.name, (None, None))
        fields[f.name] = (Annotated[hints[f.name], Field(ge=low, le=high)], f.default)
    return create_model(f"{cls.__name__}Settings", __base__=_Settings, **fields)


def checked(model: type[BaseModel], settings: dict) -> dict:
    """`settings` with their values converted to the fields' types; a ValueError naming every bad key
    (and what it got) otherwise."""
    try:
        return model.model_validate(settings).model_dump(exclude_unset=True)
    except ValidationError as e:
        problems = [f"{'.'.join(map(str, err['loc']))}: {err['msg']} (got {err['input']!r})" for err in e.errors()]
        raise ValueError("; ".join(problems)) from None
