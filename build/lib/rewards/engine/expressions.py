"""The rule condition language: Python-like expressions, evaluated safely by simpleeval.

`post.kind == "answer" and actor != post.author`, `reason in ("spam", "offensive")`,
`reputation(actor) >= 125`. Dots read fields of the event's data (never Python attributes), only the
functions the engine names can be called, and there are no loops, comprehensions, lambdas or imports.
"""

import ast
import operator
import string
from collections.abc import Callable, Mapping
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression

MAX_EXPRESSION_LENGTH = 500

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd,
    ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot,
    ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod,
    ast.IfExp, ast.Call, ast.Name, ast.Load, ast.Attribute, ast.Subscript, ast.Constant,
    ast.Tuple, ast.List, ast.Set,
)  # fmt: skip

Namespace = Mapping[str, Any]
Function = Callable[..., Any]


class ExpressionError(ValueError):
    """An expression that cannot be compiled; the message says what to change."""


class EvaluationError(RuntimeError):
    """An expression that failed on a particular event (a missing field, a wrong type...)."""


class _FieldsOnlyEval(EvalWithCompoundTypes):  # type: ignore[misc]
    """simpleeval, with `a.b` reading mapping keys only and calls only to named functions."""

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        value = self._eval(node.value)
        if isinstance(value, Mapping):
            return value.get(node.attr)
        if value is None:
            return None
        raise EvaluationError(f"'.{node.attr}' read on a {type(value).__name__}, not on an object")

    def _eval_name(self, node: ast.Name) -> Any:
        # A field the event does not have reads as null, as on the compiled path.
        return self.names.get(node.id)

    def _eval_call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            raise EvaluationError("only the engine's own functions can be called")
        return super()._eval_call(node)


def _path_of(node: ast.AST) -> tuple[str, ...] | None:
    """`post.author` -> ("post", "author"); None when the node is not a plain field path."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return tuple(reversed(parts))
    return None


def read_path(namespace: Namespace, path: tuple[str, ...]) -> Any:
    value: Any = namespace
    for key in path:
        if not isinstance(value, dict):  # event data is decoded JSON: plain dicts
            return None
        value = value.get(key)
    return value


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda left, right: left in right,
    ast.NotIn: lambda left, right: left not in right,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}

Compiled = Callable[[Namespace], Any]


def _fast(node: ast.AST) -> Compiled | None:
    """Closures for the shapes nearly every rule uses (fields, constants, comparisons, and/or/not).

    They behave exactly as simpleeval would and are about ten times faster; anything else returns None
    and is left to simpleeval.
    """
    path = _path_of(node)
    if path is not None:
        return lambda names: read_path(names, path)
    if isinstance(node, ast.Constant):
        constant = node.value
        return lambda names: constant
    if isinstance(node, ast.Tuple | ast.List | ast.Set) and all(isinstance(e, ast.Constant) for e in node.elts):
        values = tuple(e.value for e in node.elts)  # type: ignore[attr-defined]
        collection: Any = values
        if isinstance(node, ast.Set):
            collection = frozenset(values)
        elif isinstance(node, ast.List):
            collection = list(values)
        return lambda names: collection
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _fast(node.operand)
        return None if inner is None else (lambda names: not inner(names))
    if isinstance(node, ast.BoolOp):
        parts = [_fast(value) for value in node.values]
        if any(part is None for part in parts):
            return None
        steps = tuple(part for part in parts if part is not None)
        if isinstance(node.op, ast.And):

            def all_of(names: Namespace) -> Any:
                value: Any = True
                for step in steps:
                    value = step(names)
                    if not value:
                        return value
                return value

            return all_of

        def any_of(names: Namespace) -> Any:
            value: Any = False
            for step in steps:
                value = step(names)
                if value:
                    return value
            return value

        return any_of
    if isinstance(node, ast.Compare) and len(node.ops) == 1:
        left, right = _fast(node.left), _fast(node.comparators[0])
        compare = _COMPARE.get(type(node.ops[0]))
        if left is None or right is None or compare is None:
            return None
        return lambda names: compare(left(names), right(names))
    return None


class Expression:
    """A condition or value, compiled once per ruleset and evaluated per event."""

    def __init__(self, source: str, functions: Mapping[str, Function]) -> None:
        self.source = source
        self._functions = functions
        tree = _parse(source, set(functions))
        self.path = _path_of(tree.body)
        self._tree = tree.body
        self._evaluator = _FieldsOnlyEval(functions=dict(functions))
        self._fast = _fast(tree.body)
        # The users this expression asks about (`reputation(actor)`): loaded before the event is evaluated.
        self.asks_about: tuple[tuple[str, ...], ...] = tuple(
            path
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            for path in (_path_of(node.args[0]),)
            if path is not None
        )

    def evaluate(self, namespace: Namespace) -> Any:
        if self.path is not None:
            return read_path(namespace, self.path)
        if self._fast is not None:
            try:
                return self._fast(namespace)
            except Exception as error:  # whatever the data, a bad value fails this event, never the batch
                raise EvaluationError(f"{self.source!r}: {error}") from error
        self._evaluator.names = namespace
        try:
            return self._evaluator.eval(self.source, previously_parsed=self._tree)
        except EvaluationError as error:
            raise EvaluationError(f"{self.source!r}: {error}") from error
        except (InvalidExpression, Exception) as error:  # as above: the event fails, with the reason
            raise EvaluationError(f"{self.source!r}: {error}") from error

    def test(self, namespace: Namespace) -> bool:
        return bool(self.evaluate(namespace))

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def _parse(source: str, function_names: set[str]) -> ast.Expression:
    if not source.strip():
        raise ExpressionError("the expression is empty")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise ExpressionError(f"{source!r} is not a valid expression: {error.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(f"{source!r}: {type(node).__name__} is not allowed in a rule expression")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionError(f"{source!r}: names cannot start with '_'")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(f"{source!r}: fields cannot start with '_'")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in function_names:
                known = ", ".join(sorted(function_names)) or "none"
                raise ExpressionError(f"{source!r}: unknown function (the functions are: {known})")
            if node.keywords:
                raise ExpressionError(f"{source!r}: functions take positional arguments only")
            if len(node.args) != 1 or _path_of(node.args[0]) is None:
                raise ExpressionError(
                    f"{source!r}: {node.func.id}() takes one field that names a user, like {node.func.id}(actor)"
                )
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) > 200:
            raise ExpressionError(f"{source!r}: string constants are limited to 200 characters")
    return tree


class Template:
    """A text with `{field.path}` placeholders: `vote/{post.id}/{actor}`."""

    def __init__(self, source: str, *, as_key: bool = False) -> None:
        self.source = source
        # A key (a slot) must not be ambiguous: post "p" voted by "v/w" and post "p/v" voted by "w" would both
        # render "vote/p/v/w". Values are escaped so that they cannot contain the separator.
        self._as_key = as_key
        self._parts: list[str | tuple[str, ...]] = []
        try:
            parsed = list(string.Formatter().parse(source))
        except ValueError as error:
            raise ExpressionError(f"{source!r} is not a valid template: {error}") from None
        for literal, field, spec, conversion in parsed:
            if literal:
                self._parts.append(literal)
            if field is None:
                continue
            if spec or conversion:
                raise ExpressionError(f"{source!r}: placeholders take a field path only, like {{post.id}}")
            path = tuple(field.split("."))
            if not all(part.isidentifier() and not part.startswith("_") for part in path):
                raise ExpressionError(f"{source!r}: {{{field}}} is not a field path like {{post.id}}")
            self._parts.append(path)

    def render(self, namespace: Namespace, *, missing: str | None = None) -> str:
        out: list[str] = []
        for part in self._parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = read_path(namespace, part)
            if value is None:
                if missing is None:
                    raise EvaluationError(f"template {self.source!r}: {'.'.join(part)} is missing from the event")
                value = missing
            text = str(value)
            out.append(text.replace("%", "%25").replace("/", "%2F") if self._as_key else text)
        return "".join(out)

    def __repr__(self) -> str:
        return f"Template({self.source!r})"
