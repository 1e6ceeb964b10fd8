"""Reading config YAML safely, with errors an operator can act on.

Differences from ``yaml.safe_load``: duplicate keys are errors, and ``1e-3`` is a number
(YAML 1.2), not the string PyYAML's YAML 1.1 rules make of it.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml
from driftline.schemas.exceptions import ConfigError

_FLOAT_TAG = "tag:yaml.org,2002:float"
_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 floats and duplicate-key detection."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _FLOAT_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_FLOAT_TAG, _FLOAT_RE, list("-+0123456789."))


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
            continue
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    loader.flatten_mapping(node)
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            )
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


# A config is a few levels deep (monitors[0].features.x.min: 5); far deeper nesting is a
# mistake, and the recursive checks after parsing would exhaust Python's stack on it.
MAX_DEPTH = 32


def parse_yaml(text: str, file: str | None = None) -> Any:
    """Parse one YAML document; syntax errors become a ConfigError naming line and column."""
    too_deep = ConfigError("", f"nested more than {MAX_DEPTH} levels deep: not a driftline config", file=file)
    try:
        data = yaml.load(text, Loader=_Loader)  # _Loader derives from SafeLoader
    except RecursionError:
        raise too_deep from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = exc.problem or exc.context or "syntax error"
        if "block" in what or "indent" in what:
            what += " (check the indentation)"
        raise ConfigError("", f"not valid YAML{where}: {what}", file=file) from None
    except yaml.YAMLError as exc:
        raise ConfigError("", f"not valid YAML: {exc}", file=file) from None
    if _depth(data) > MAX_DEPTH:
        raise too_deep
    return data


def _depth(data: Any) -> int:
    """How deep mappings and lists nest in ``data`` (a scalar: 0), without recursion."""
    deepest, level = 0, [(data, 0)]
    while level:
        value, depth = level.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_DEPTH:
                return deepest
            level += [(v, depth + 1) for v in (value.values() if isinstance(value, dict) else value)]
    return deepest


def read_yaml(path: str | Path) -> Any:
    """Read and parse a YAML file, turning every I/O or syntax problem into a ConfigError."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError("", "file not found", file=name) from None
    except IsADirectoryError:
        raise ConfigError("", "is a directory, expected a YAML file", file=name) from None
    except PermissionError:
        raise ConfigError("", "cannot read the file: permission denied", file=name) from None
    except OSError as exc:
        raise ConfigError("", f"cannot read the file: {exc.strerror or exc}", file=name) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError("", "not a YAML file (not UTF-8 text)", file=name) from None
    return parse_yaml(text, file=name)
