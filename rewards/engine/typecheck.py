"""Type-check what a rules file computes before it is used: each expression against the data of the event types it
is evaluated on (their JSON Schemas, given by the caller), so that a rule that validates can also work.

An expression is interpreted over types rather than values: every operand and branch is checked (a sample event
would miss what `and`, `or` and `x if c else y` skip), and a problem is reported only when no combination of the
types the data may have can work. An optional field, or a field the schema leaves open, never fails a rule.
"""

import ast
import difflib
import string
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from itertools import product
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from rewards.engine.expressions import EvaluationError, Expression
from rewards.engine.ruleset import MAX_POINTS, STATE_FUNCTION_NAMES, RulesetSpec

Location = tuple[str | int, ...]
Problem = tuple[Location, str]


class Kind(StrEnum):
    NUMBER = "a number"
    BOOL = "true or false"
    TEXT = "text"
    NULL = "null"
    LIST = "a list"


@dataclass(frozen=True)
class Shape:
    """An object of the event's data: the fields its schema names, and whether it may carry others."""

    name: str
    fields: tuple[tuple[str, "Type"], ...] = ()
    open: bool = True

    def field(self, name: str) -> "Type | None":
        return dict(self.fields).get(name)

    def field_names(self) -> list[str]:
        return [name for name, _type in self.fields]


Atom = Kind | Shape
Type = frozenset[Atom]

NUMBER: Type = frozenset({Kind.NUMBER})
BOOL: Type = frozenset({Kind.BOOL})
TEXT: Type = frozenset({Kind.TEXT})
NULL: Type = frozenset({Kind.NULL})
LIST: Type = frozenset({Kind.LIST})
ANY_OBJECT = Shape("an object")
ANY: Type = frozenset({*Kind, ANY_OBJECT})
_NUMERIC = {Kind.NUMBER, Kind.BOOL}

# What expressions see besides the data: `event` (see EventInput.namespace).
EVENT_FIELDS = Shape("event", tuple((name, TEXT) for name in ("id", "source", "time", "type")), open=False)
OTHER_EVENTS = Shape("events of this type", (("event", frozenset({EVENT_FIELDS})),), open=True)


@dataclass(frozen=True)
class EventData:
    """What rule expressions can read on each event type. A type the caller knows is closed at the top: its
    contract names what a rule can rely on, so another name is a mistake (`actr`), even if a forum may send more.
    Nested objects (a forum's own `post.wiki`) and other event types are as open as their schemas say."""

    known: Mapping[str, Shape] = field(default_factory=dict)
    other: Shape = OTHER_EVENTS

    @classmethod
    def from_schemas(cls, schemas: Mapping[str, Mapping[str, Any]], other: Mapping[str, Any]) -> "EventData":
        """From published event schemas (CloudEvents envelopes, the data under `properties.data`)."""
        known = {
            event_type: _top(schema, f"{event_type} events", closed=True) for event_type, schema in schemas.items()
        }
        return cls(known=known, other=_top(other, "events of this type", closed=False))

    def of(self, event_type: str) -> Shape:
        known = self.known.get(event_type)
        return known if known is not None else replace(self.other, name=f"{event_type} events")


def _top(schema: Mapping[str, Any], name: str, *, closed: bool) -> Shape:
    properties = schema.get("properties")
    data = properties.get("data") if isinstance(properties, Mapping) else None
    shapes = [atom for atom in _from_schema(data, schema, "data", 0) if isinstance(atom, Shape)]
    fields = dict(shapes[0].fields) if shapes else {}
    fields["event"] = frozenset({EVENT_FIELDS})
    return Shape(name, tuple(fields.items()), open=not closed and (not shapes or shapes[0].open))


def _from_schema(node: Any, root: Mapping[str, Any], name: str, depth: int) -> Type:
    if not isinstance(node, Mapping) or depth > 20:
        return ANY
    reference = node.get("$ref")
    if isinstance(reference, str):
        return _from_schema(_resolve(root, reference), root, name, depth + 1)
    for key in ("anyOf", "oneOf"):
        if isinstance(node.get(key), list):
            return _union(_from_schema(item, root, name, depth + 1) for item in node[key])
    if isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
        return _from_schema(node["allOf"][0], root, name, depth + 1)
    if "const" in node:
        return _of_value(node["const"])
    if isinstance(node.get("enum"), list):
        return _union(_of_value(value) for value in node["enum"])
    declared = node.get("type", "object" if "properties" in node else None)
    names = [declared] if isinstance(declared, str) else declared
    if not isinstance(names, list):
        return ANY
    found: set[Atom] = set()
    for kind in names:
        if kind == "object":
            found.add(_object(node, root, name, depth))
        else:
            found |= _JSON_KINDS.get(kind, ANY)
    return frozenset(found)


_JSON_KINDS: dict[str, Type] = {
    "string": TEXT,
    "integer": NUMBER,
    "number": NUMBER,
    "boolean": BOOL,
    "null": NULL,
    "array": LIST,
}


def _object(node: Mapping[str, Any], root: Mapping[str, Any], name: str, depth: int) -> Shape:
    properties = node.get("properties")
    if not isinstance(properties, Mapping):
        return Shape(name, open=node.get("additionalProperties") is not False)
    required = node.get("required")
    required = set(required) if isinstance(required, list) else set()
    fields: list[tuple[str, Type]] = []
    for key, child in properties.items():
        kind = _from_schema(child, root, f"{name}.{key}" if name != "data" else str(key), depth + 1)
        fields.append((str(key), kind if key in required else kind | NULL))  # a field that may be left out
    return Shape(name, tuple(fields), open=node.get("additionalProperties") is not False)


def _resolve(root: Mapping[str, Any], reference: str) -> Any:
    if not reference.startswith("#/"):
        return None
    node: Any = root
    for part in reference[2:].split("/"):
        node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, Mapping) else None
    return node


def _of_value(value: Any) -> Type:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float | complex):
        return NUMBER
    if isinstance(value, str):
        return TEXT
    if value is None:
        return NULL
    if isinstance(value, list | tuple | set | frozenset):
        return LIST
    return frozenset({ANY_OBJECT}) if isinstance(value, Mapping) else ANY


def _union(kinds: Iterable[Type]) -> Type:
    found: set[Atom] = set()
    for kind in kinds:
        found |= kind
    return frozenset(found)


def describe(kind: Type) -> str:
    if kind >= ANY:
        return "any value"
    words = sorted(atom.value if isinstance(atom, Kind) else "an object" for atom in kind)
    return " or ".join(dict.fromkeys(words))


# What the engine's functions give, worked out from them so that the two cannot drift apart.
FUNCTION_RESULTS: dict[str, Type] = {
    name: _of_value(function("user")) for name, function in STATE_FUNCTION_NAMES.items()
}

# Bare words that read as a field of the event, but mean something else to whoever wrote them.
_SMALL_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen "
    "eighteen nineteen twenty"
)
NUMBER_WORDS = dict(zip(_SMALL_NUMBERS.split(), range(21), strict=True)) | {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "hundred": 100,
    "thousand": 1000,
}
TRUTH_WORDS = {"true": "True", "false": "False", "yes": "True", "no": "False", "null": "None", "none": "None"}


class _CannotWork(Exception):
    """Why an expression cannot work on an event type; the message is shown as it is."""


class _Interpreter:
    """Works out the types an expression may give on one event type, or why it cannot give any."""

    def __init__(self, data: Shape) -> None:
        self.data = data

    def type_of(self, node: ast.AST) -> Type:
        if isinstance(node, ast.Expression):
            return self.type_of(node.body)
        if isinstance(node, ast.Constant):
            return _of_value(node.value)
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.Subscript):
            return self._subscript(node)
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            for element in node.elts:
                self.type_of(element)
            return LIST
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.BoolOp):
            return _union(self.type_of(value) for value in node.values)
        if isinstance(node, ast.IfExp):
            self.type_of(node.test)
            return self.type_of(node.body) | self.type_of(node.orelse)
        if isinstance(node, ast.Call):
            return self._call(node)
        return ANY

    def _name(self, name: str) -> Type:
        found = self.data.field(name)
        if found is not None:
            return found
        hint = _hint(name)
        if hint is not None:
            raise _CannotWork(hint)
        if self.data.open:
            return ANY  # a field of an event type whose data is open
        fields = self.data.field_names()
        close = difflib.get_close_matches(name, fields, n=1)
        guess = f": did you mean `{close[0]}`?" if close else ""
        quotes = "" if close else f'; text goes in quotes: "{name}"'
        raise _CannotWork(
            f"`{name}` is not a field of {self.data.name}{guess} (their fields: {', '.join(fields)}){quotes}"
        )

    def _attribute(self, node: ast.Attribute) -> Type:
        base = self.type_of(node.value)
        what = ast.unparse(node.value)
        found: set[Atom] = set()
        for atom in base:
            if isinstance(atom, Shape):
                found |= self._field(atom, what, node.attr)
            elif atom is Kind.NULL:
                found.add(Kind.NULL)  # a missing object reads as null, and so do its fields
        if not found:
            raise _CannotWork(f"`{ast.unparse(node)}` cannot work: `{what}` is {describe(base)}, which has no fields")
        return frozenset(found)

    @staticmethod
    def _field(shape: Shape, what: str, name: str) -> Type:
        found = shape.field(name)
        if found is not None:
            return found
        fields = shape.field_names()
        # An object the schema leaves open may carry fields the forum adds (post.wiki); one a letter away from
        # a field it names is a typo (post.auther), and reads as null on every event.
        close = difflib.get_close_matches(name, fields, n=1, cutoff=0.8 if shape.open else 0.6)
        if shape.open and not close:
            return ANY
        guess = f"did you mean `{what}.{close[0]}`? " if close else ""
        extra = f'; a field the forum adds itself reads as {what}["{name}"]' if shape.open else ""
        raise _CannotWork(f"`{what}` has no field `{name}`: {guess}(its fields: {', '.join(fields)}{extra})")

    def _subscript(self, node: ast.Subscript) -> Type:
        base = self.type_of(node.value)
        self.type_of(node.slice)
        key = node.slice.value if isinstance(node.slice, ast.Constant) else None
        found: set[Atom] = set()
        for atom in base:
            if atom is Kind.LIST:
                found |= ANY
            elif atom is Kind.TEXT:
                found.add(Kind.TEXT)
            elif isinstance(atom, Shape):
                field_type = atom.field(key) if isinstance(key, str) else None
                found |= field_type if field_type is not None else ANY
        if not found:
            raise _CannotWork(
                f"`{ast.unparse(node)}` cannot work: `{ast.unparse(node.value)}` is {describe(base)}, "
                "and only a list, text or an object has items"
            )
        return frozenset(found)

    def _unary(self, node: ast.UnaryOp) -> Type:
        operand = self.type_of(node.operand)
        if isinstance(node.op, ast.Not):
            return BOOL
        if operand & _NUMERIC:
            return NUMBER
        raise _CannotWork(f"`{ast.unparse(node)}` cannot work: {describe(operand)} has no sign, only numbers do")

    def _binary(self, node: ast.BinOp) -> Type:
        left, right = self.type_of(node.left), self.type_of(node.right)
        found = {result for a, b in product(left, right) if (result := _arithmetic(node.op, a, b)) is not None}
        if found:
            return frozenset(found)
        verb = _VERBS.get(type(node.op), "combine")
        raise _CannotWork(f"`{ast.unparse(node)}` cannot work: cannot {verb} {describe(left)} and {describe(right)}")

    def _compare(self, node: ast.Compare) -> Type:
        left = self.type_of(node.left)
        for operator, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.type_of(comparator)
            if not any(_comparable(operator, a, b) for a, b in product(left, right)):
                shown = ast.unparse(ast.Compare(left=node.left, ops=[operator], comparators=[comparator]))
                if isinstance(operator, ast.In | ast.NotIn):
                    reason = f"cannot look for {describe(left)} in {describe(right)}"
                else:
                    reason = f"cannot compare {describe(left)} with {describe(right)}"
                raise _CannotWork(f"`{shown}` cannot work: {reason}")
            left = right
        return BOOL

    def _call(self, node: ast.Call) -> Type:
        name = node.func.id if isinstance(node.func, ast.Name) else ""
        for argument in node.args:
            given = self.type_of(argument)
            if Kind.TEXT not in given:
                raise _CannotWork(
                    f"`{ast.unparse(node)}` cannot work: {name}() takes a user id, like {name}(actor); "
                    f"`{ast.unparse(argument)}` is {describe(given)}"
                )
        return FUNCTION_RESULTS.get(name, ANY)


def _hint(name: str) -> str | None:
    """What a bare word that reads as a field of the event was surely meant to be."""
    if name in FUNCTION_RESULTS:
        return f"`{name}` is a function: call it on a user, like `{name}(actor)`"
    word = name.lower()
    if word in NUMBER_WORDS:
        return f"`{name}` is not a number: write numbers in digits, like {NUMBER_WORDS[word]}"
    if word in TRUTH_WORDS:
        return f"`{name}` would read a field named {name}: write {TRUTH_WORDS[word]}"
    return None


_VERBS: dict[type[ast.operator], str] = {
    ast.Add: "add",
    ast.Sub: "subtract",
    ast.Mult: "multiply",
    ast.Div: "divide",
    ast.FloorDiv: "divide",
    ast.Mod: "take the remainder of",
}


def _arithmetic(op: ast.operator, left: Atom, right: Atom) -> Atom | None:
    """The kind `left op right` gives, or None where Python raises a TypeError."""
    numbers = left in _NUMERIC and right in _NUMERIC
    if isinstance(op, ast.Add):
        if numbers:
            return Kind.NUMBER
        return left if left == right and left in (Kind.TEXT, Kind.LIST) else None
    if isinstance(op, ast.Mult):
        if numbers:
            return Kind.NUMBER
        if left in _NUMERIC and right in (Kind.TEXT, Kind.LIST):
            return right
        return left if right in _NUMERIC and left in (Kind.TEXT, Kind.LIST) else None
    if isinstance(op, ast.Mod) and left is Kind.TEXT:
        return Kind.TEXT  # "%s" formatting
    if isinstance(op, ast.Sub) and left is right is Kind.LIST:
        return Kind.LIST  # sets
    return Kind.NUMBER if numbers else None


def _comparable(op: ast.cmpop, left: Atom, right: Atom) -> bool:
    if isinstance(op, ast.Eq | ast.NotEq | ast.Is | ast.IsNot):
        return True
    if isinstance(op, ast.In | ast.NotIn):
        return right in (Kind.LIST,) or isinstance(right, Shape) or (right is Kind.TEXT and left is Kind.TEXT)
    return (left in _NUMERIC and right in _NUMERIC) or (left == right and left in (Kind.TEXT, Kind.LIST))


# -- what each place of a rule needs --------------------------------------------------------------------------------


Checker = Callable[[str, Shape], None]

# Deeper than this, evaluating it (here, or by simpleeval on an event) could run out of Python's stack.
MAX_DEPTH = 100


def _depth(tree: ast.AST) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _type(source: str, data: Shape) -> tuple[Type, bool, Any]:
    """The types `source` may give on events with this data, and for an expression that reads nothing from the event
    (`10 * 2`), its value: (types, True, value)."""
    tree = ast.parse(source.strip(), mode="eval")
    if _depth(tree) > MAX_DEPTH:
        raise _CannotWork(f"`{source}` is nested more than {MAX_DEPTH} levels deep: simplify it")
    kind = _Interpreter(data).type_of(tree)
    if any(isinstance(node, ast.Name | ast.Attribute | ast.Call) for node in ast.walk(tree)):
        return kind, False, None
    try:
        value = Expression(source, STATE_FUNCTION_NAMES).evaluate({})
    except EvaluationError as error:
        raise _CannotWork(f"`{source}` cannot work: {error.__cause__ or error}") from None
    return _of_value(value), True, value


def _condition(source: str, data: Shape) -> None:
    kind, _constant, _value = _type(source, data)
    if not kind & {Kind.BOOL, Kind.NULL}:  # null: a field that may be missing, a test of whether it is there
        raise _CannotWork(
            f"`{source}` is always {describe(kind)} on {data.name}, not true or false; "
            'write a condition, like `post.kind == "answer"` or `reputation(actor) >= 100`'
        )


def _amount(source: str, data: Shape) -> None:
    kind, constant, value = _type(source, data)
    if constant:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _CannotWork(f"points must be a whole number, like 10; `{source}` is {describe(kind)}")
        if value != int(value):
            raise _CannotWork(f"points must be a whole number, like 10; `{source}` is {value!r}")
        if not -MAX_POINTS <= value <= MAX_POINTS:
            raise _CannotWork(f"points must be within ±{MAX_POINTS:,}; `{source}` is {value!r}")
    elif Kind.NUMBER not in kind:
        raise _CannotWork(
            f"points must be a whole number (like 10) or read one from the event (like bounty.amount); "
            f"on {data.name} `{source}` is {describe(kind)}"
        )


def _user(source: str, data: Shape) -> None:
    kind, _constant, _value = _type(source, data)
    if Kind.TEXT not in kind:
        raise _CannotWork(
            f"`{source}` must name a user, like post.author or actor; on {data.name} it is {describe(kind)}"
        )


def _subject(source: str, data: Shape) -> None:
    kind, _constant, _value = _type(source, data)
    if Kind.TEXT not in kind:
        raise _CannotWork(f"the subject `{source}` must be an id, like post.id; on {data.name} it is {describe(kind)}")


def _subject_elsewhere(source: str, data: Shape) -> None:
    try:
        _subject(source, data)
    except _CannotWork as error:
        raise _CannotWork(
            f"the rule's points are found by its subject `{source}`, read on {data.name}: {error}"
        ) from None


def _value(source: str, data: Shape) -> None:
    _type(source, data)


def _template(source: str, data: Shape) -> None:
    for _literal, name, _spec, _conversion in string.Formatter().parse(source):
        if name:
            _type(name, data)


def check_types(spec: RulesetSpec, raw: Any, events: EventData) -> list[Problem]:
    """Every expression, template and number of the rules file that cannot work, with where it is."""
    problems: list[Problem] = list(dict.fromkeys(_booleans_as_numbers(RulesetSpec, raw, ())))

    def check(where: Location, checker: Checker, source: str | None, event_type: str) -> None:
        if source is None:
            return
        try:
            checker(source, events.of(event_type))
        except _CannotWork as error:
            problems.append((where, str(error)))
        except (SyntaxError, ValueError):  # refused already, with its reason, by the models
            pass

    for index, rule in enumerate(spec.points):
        at: Location = ("points", index)
        check((*at, "when"), _condition, rule.when, rule.on)
        check((*at, "label"), _template, rule.label, rule.on)
        check((*at, "slot"), _template, rule.slot, rule.on)
        if "subject" in rule.model_fields_set:
            check((*at, "subject"), _subject, rule.subject, rule.on)
        # Undo (without a slot), suspension and restore find the points by the subject, read on their own events.
        undo_types = [] if rule.slot is not None else [undo.on for undo in rule.undone_by]
        for key, event_types in (
            ("undone_by", undo_types),
            ("suspended_by", rule.suspended_by),
            ("restored_by", rule.restored_by),
        ):
            for position, event_type in enumerate(event_types):
                check((*at, key, position), _subject_elsewhere, rule.subject, event_type)
        for position, award in enumerate(rule.award):
            check((*at, "award", position, "to"), _user, award.to, rule.on)
            if isinstance(award.points, str):
                check((*at, "award", position, "points"), _amount, award.points, rule.on)
            check((*at, "award", position, "when"), _condition, award.when, rule.on)
            check((*at, "award", position, "label"), _template, award.label, rule.on)
        for position, undo in enumerate(rule.undone_by):
            check((*at, "undone_by", position, "when"), _condition, undo.when, undo.on)
    for counter_id, counter in spec.counters.items():
        counting = {rule.on for rule in spec.points if any(counter_id in award.counts for award in rule.award)}
        for event_type in sorted(counting):
            check(("counters", counter_id, "scope"), _value, counter.scope, event_type)
    return list(dict.fromkeys(problems))


# -- numbers written as true or false --------------------------------------------------------------------------------


def _options(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _options(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [option for argument in get_args(annotation) for option in _options(argument)]
    return [annotation]


def _booleans_as_numbers(annotation: Any, raw: Any, where: Location) -> Iterator[Problem]:
    """`at: true`, `counts: {post_score: false}`...: YAML's booleans pass as 1 and 0 where a number belongs."""
    options = _options(annotation)
    if isinstance(raw, bool):
        if int in options and bool not in options:
            yield where, f"must be a whole number, like 10, not {str(raw).lower()}"
        return
    for option in options:
        origin = get_origin(option)
        if isinstance(option, type) and issubclass(option, BaseModel) and isinstance(raw, dict):
            for name, info in option.model_fields.items():
                if name in raw:
                    yield from _booleans_as_numbers(info.annotation, raw[name], (*where, name))
        elif origin is list and isinstance(raw, list):
            (item,) = get_args(option)
            for position, value in enumerate(raw):
                yield from _booleans_as_numbers(item, value, (*where, position))
        elif origin is dict and isinstance(raw, dict):
            _key, item = get_args(option)
            for key, value in raw.items():
                yield from _booleans_as_numbers(item, value, (*where, str(key)))
