"""Schemathesis hooks of scripts/contract.

A schema-valid request may still be refused with 422 for a rule the schema cannot
state (it depends on other fields or on stored state). The document lists, per
operation, the fields such rules apply to (`x-rule-fields`); this check fails the run
when a schema-valid request is refused on any other field, or without naming one.
"""

import schemathesis


@schemathesis.check
def rule_refusals_are_declared(ctx, response, case):
    if response.status_code != 422 or case.meta is None:
        return None
    if not case.meta.generation.mode.is_positive:
        return None
    try:
        body = response.json()
    except ValueError:
        raise AssertionError("a 422 without a JSON problem body")
    if body.get("type") == "/problems/idempotency-key-reused":
        return None
    declared = set(case.operation.definition.raw.get("x-rule-fields", []))
    fields = {e.get("field") for e in body.get("errors", [])}
    undeclared = sorted(str(f) for f in fields - declared)
    if not fields or undeclared:
        raise AssertionError(
            "A schema-valid request was refused for a schema reason on "
            f"{undeclared or ['(no field named)']}: {body.get('detail')}"
        )
    return None
