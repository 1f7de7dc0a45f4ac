"""A participant's statistics in a campaign condition, and what they decide: completion and bonus.

Each episode carries the worker's statistics at its end (`Episode.stats`: score, steps, active_minutes, custom
ones). A participant's values combine their ended episodes' values: `<name>` is the sum, `max_<name>`,
`min_<name>`, `mean_<name>` and `last_<name>` the others, and `episodes` counts the episodes they completed (kept).
A requirement (statistic, aggregate, target) is met when that value reaches its target; completion is CrowdPlay's:
the least of value / target over the requirements, each capped at 1. The bonus formula is arithmetic over the same
names (simpleeval: no attribute access, no calls but the few listed), capped at the campaign's maximum.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from simpleeval import EvalWithCompoundTypes, FeatureNotAvailable, InvalidExpression, NameNotDefined

from .campaigns import Bonus, CampaignSpec, Condition, LabelTask, Requirement

AGGREGATES = ("sum", "max", "min", "mean", "last")
_FUNCTIONS = {"min": min, "max": max, "round": round, "abs": abs, "floor": math.floor, "ceil": math.ceil}
DEFAULT_REQUIREMENT = Requirement(statistic="episodes", target=1)  # none given: one completed episode


def name_of(statistic: str, aggregate: str) -> str:
    """The name a formula uses for a statistic combined with an aggregate ('episodes' has only its count)."""
    return statistic if aggregate == "sum" or statistic == "episodes" else f"{aggregate}_{statistic}"


def combine(episodes: Iterable[tuple[Mapping[str, Any], bool]]) -> dict[str, float]:
    """The participant's values from (stats, completed) per ended episode, in the order they were played."""
    values: dict[str, list[float]] = {}
    completed = 0
    for stats, kept in episodes:
        completed += kept
        for key, value in stats.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
                values.setdefault(key, []).append(float(value))
    out: dict[str, float] = {"episodes": float(completed)}
    for key, vs in values.items():
        if key == "episodes":
            continue
        out[key] = sum(vs)
        out[f"max_{key}"], out[f"min_{key}"] = max(vs), min(vs)
        out[f"mean_{key}"], out[f"last_{key}"] = sum(vs) / len(vs), vs[-1]
    return out


def requirement_progress(spec: CampaignSpec, values: Mapping[str, float]) -> list[dict[str, Any]]:
    """Each requirement with the participant's value and the share of its target reached (capped at 1)."""
    out = []
    for r in spec.requirements or [DEFAULT_REQUIREMENT]:
        value = float(values.get(name_of(r.statistic, r.aggregate), 0.0))
        out.append({"statistic": r.statistic, "aggregate": r.aggregate, "target": r.target, "value": value,
                    "fraction": min(1.0, max(0.0, value / r.target))})
    return out


def completion(spec: CampaignSpec, values: Mapping[str, float]) -> float:
    """CrowdPlay's completion: the least share reached over the requirements (1: complete)."""
    return min(float(p["fraction"]) for p in requirement_progress(spec, values))


def label_progress(task: LabelTask, values: Mapping[str, float]) -> list[dict[str, Any]]:
    """A labelling condition's one requirement: `pairs` answered of the task's; met early when the experiment has
    no more pairs for the participant (`pairs_left` 0), so nobody waits for pairs that will never come."""
    answered = float(values.get("pairs", 0.0))
    exhausted = values.get("pairs_left", 1.0) <= 0
    return [{"statistic": "pairs", "aggregate": "sum", "target": task.pairs, "value": answered,
             "fraction": 1.0 if exhausted else min(1.0, answered / task.pairs)}]


def condition_requirements(spec: CampaignSpec, condition: Condition | None,
                           values: Mapping[str, float]) -> list[dict[str, Any]]:
    """What completes `condition`: its labelling task's pairs, or the campaign's requirements over play."""
    if condition is not None and condition.label is not None:
        return label_progress(condition.label, values)
    return requirement_progress(spec, values)


def condition_completion(spec: CampaignSpec, condition: Condition | None, values: Mapping[str, float]) -> float:
    return min(float(p["fraction"]) for p in condition_requirements(spec, condition, values))


def _evaluator(names: dict[str, float]) -> EvalWithCompoundTypes:
    return EvalWithCompoundTypes(names=names, functions=dict(_FUNCTIONS))  # names as given: _Zero stays _Zero


_ARITHMETIC = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load, ast.Call, ast.IfExp,
               ast.Compare, ast.BoolOp, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def check_formula(formula: str) -> None:
    """Raises ValueError naming the problem when the formula is no arithmetic over statistics' names with the
    functions listed (min, max, round, abs, floor, ceil). A statistic no episode has counts as 0."""
    def refuse(why: str) -> ValueError:
        return ValueError(f"Expected an arithmetic bonus formula like '0.05 * active_minutes', got {formula!r}: {why}")

    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError as err:
        raise refuse(str(err.msg)) from None
    for node in ast.walk(tree):
        if not isinstance(node, _ARITHMETIC):
            raise refuse(f"{type(node).__name__} is not arithmetic")
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or
                                               not isinstance(node.value, int | float)):
            raise refuse(f"{node.value!r} is not a number")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS
                                               and not node.keywords):
            raise refuse(f"calls only {sorted(_FUNCTIONS)} (without keywords)")
        if isinstance(node, ast.Name) and node.id not in _FUNCTIONS and not _NAME.fullmatch(node.id):
            raise refuse(f"{node.id!r} is no statistic name (lowercase letters, digits and '_')")


class _Zero(dict[str, float]):
    """Names no episode had: 0 (a custom statistic only some conditions compute)."""

    def __missing__(self, key: str) -> float:
        return 0.0


def bonus(spec: Bonus, values: Mapping[str, float]) -> float:
    """The bonus the formula gives, capped at the maximum, never negative, rounded to cents. Raises ValueError
    when the formula cannot be evaluated (a call or attribute it may not use, a division by zero...)."""
    evaluator = _evaluator(_Zero(values))
    try:
        amount: object = evaluator.eval(spec.formula)
    except (InvalidExpression, FeatureNotAvailable, NameNotDefined, ZeroDivisionError, TypeError,
            SyntaxError) as err:
        raise ValueError(f"Expected a bonus formula over the statistics {sorted(values)}, got {spec.formula!r}: "
                         f"{err}") from None
    if not isinstance(amount, int | float) or isinstance(amount, bool) or not math.isfinite(amount):
        raise ValueError(f"Expected the bonus formula {spec.formula!r} to give a number, got {amount!r}")
    return round(min(spec.max, max(0.0, float(amount))), 2)
