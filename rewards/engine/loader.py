"""Load a rules file: YAML -> typed models -> compiled ruleset, or every problem with file, line and rule id."""

from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from rewards.engine.ruleset import Ruleset, RulesetSpec, compile_ruleset, cross_check
from rewards.engine.texts import RuleTexts, extract
from rewards.engine.typecheck import EventData, check_types
from rewards.errors import RulesetError

MAX_RULES_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class RuleProblem:
    file: str
    line: int | None
    rule_id: str | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        rule = f" rule {self.rule_id!r}:" if self.rule_id else ""
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{rule}{field} {self.message}"


def load_ruleset_file(path: Path) -> Ruleset:
    try:
        source = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RulesetError(f"{path}: no such rules file", detail=[]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise RulesetError(f"{path}: cannot read the rules file: {error}", detail=[]) from None
    return load_ruleset_text(source, str(path))


def load_ruleset_text(source: str, filename: str = "<rules>", events: EventData | None = None) -> Ruleset:
    problems, spec, texts = _check(source, filename, events)
    if spec is None:
        summary = "; ".join(str(problem) for problem in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise RulesetError(
            f"the rules file cannot be used: {summary}{more}",
            detail=[problem.__dict__ for problem in problems],
        )
    ruleset = compile_ruleset(spec, source)
    ruleset.texts = texts
    return ruleset


def check_ruleset_text(
    source: str, filename: str, events: EventData | None = None
) -> tuple[list[RuleProblem], RulesetSpec | None]:
    """Every problem of a rules file, with file and line; and its models when there is none.

    With `events` (what each event type's data holds), also what its expressions and numbers compute, so that a
    draft that passes can work. Without, a text that was accepted before is still accepted: a stored version must
    keep loading.
    """
    problems, spec, _texts = _check(source, filename, events)
    return problems, spec


def _check(
    source: str, filename: str, events: EventData | None
) -> tuple[list[RuleProblem], RulesetSpec | None, RuleTexts]:
    texts = RuleTexts()
    if len(source.encode()) > MAX_RULES_FILE_BYTES:
        return [RuleProblem(filename, None, None, "", "the rules file is larger than 1 MiB")], None, texts
    yaml = YAML(typ="rt")
    try:
        tree = yaml.load(StringIO(source))
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = error.problem or error.context or "invalid YAML"
        return [RuleProblem(filename, line, None, "", f"not valid YAML: {reason}")], None, texts
    except YAMLError as error:
        return [RuleProblem(filename, None, None, "", f"not valid YAML: {error}")], None, texts
    if not isinstance(tree, CommentedMap):
        problem = RuleProblem(filename, 1, None, "", "a rules file is a mapping with `ruleset:` and `points:`")
        return [problem], None, texts
    # Texts given per language (`name: {en: ..., pl: ...}`) are checked here and replaced by the canonical one.
    data, texts, text_problems = extract(_plain(tree))
    problems = [_problem(filename, tree, data, loc, message) for loc, message in text_problems]
    try:
        spec = RulesetSpec.model_validate(data)
    except ValidationError as error:
        problems += [_problem(filename, tree, data, tuple(item["loc"]), _message(item)) for item in error.errors()]
        return problems, None, texts
    found = cross_check(spec)
    if events is not None:
        found += check_types(spec, data, events)
    problems += [_problem(filename, tree, data, loc, message) for loc, message in found]
    return problems, (None if problems else spec), texts


# Where the file has a word or a fraction for a whole number, say so in the file's terms rather than pydantic's.
_NOT_A_WHOLE_NUMBER = {"int_parsing", "int_from_float", "int_type"}


def _message(error: Any) -> str:
    if error["type"] in _NOT_A_WHOLE_NUMBER and isinstance(error.get("input"), str | float):
        return f"must be a whole number, like 10, not {error['input']!r}"
    return str(error["msg"]).removeprefix("Value error, ")


def _plain(node: Any) -> Any:
    if isinstance(node, CommentedMap):
        return {str(key): _plain(value) for key, value in node.items()}
    if isinstance(node, CommentedSeq):
        return [_plain(value) for value in node]
    return node


def _problem(filename: str, tree: CommentedMap, data: Any, loc: tuple[str | int, ...], message: str) -> RuleProblem:
    line: int | None = tree.lc.line + 1
    node: Any = tree
    for key in loc:
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            line = node.lc.item(key)[0] + 1
            node = node[key]
        else:
            break
    rule_id = None
    if len(loc) >= 2 and loc[0] == "points" and isinstance(loc[1], int):
        rules = data.get("points") if isinstance(data, dict) else None
        if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
            candidate = rules[loc[1]].get("id")
            rule_id = str(candidate) if candidate is not None else None
    field = ".".join(str(part) for part in loc)
    return RuleProblem(filename, line, rule_id, field, message)
