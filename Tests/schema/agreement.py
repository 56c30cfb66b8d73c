#!/usr/bin/env python3
"""Check that schemas/plan.schema.json and the kaplan binary agree on what a plan is.

    python3 Tests/schema/agreement.py --kaplan .build/debug/kaplan

Needs python3 and the `jsonschema` package, nothing else: YAML is never parsed here. The
binary converts each plan to JSON itself (`kaplan dev yaml-to-json FILE`, with kaplan's own
scalar typing), so that both sides judge the same values.

  (a) every plan in plans/, examples/ and Tests/Fixtures/valid/ validates against the schema
      and `kaplan check` exits 0;
  (b) every plan in Tests/Fixtures/invalid/schema/ fails the schema and `kaplan check` exits 1;
  (c) every plan in Tests/Fixtures/invalid/semantic/ makes `kaplan check` exit 1 (the schema's
      verdict is reported, not required);
  (d) the key paths the schema declares equal `kaplan dev plan-keys`;
  (e) the schema itself is a valid draft 2020-12 schema.

Each invalid fixture starts with `# expect: CODE`; with --require-codes, the diagnostic code
must also appear in `kaplan check`'s output (otherwise a missing code is only noted).

One line per file or check, then `agreement: N passed, M failed`; the exit status is 1 when
anything failed, 2 on a usage error.
"""

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

try:
    import jsonschema
    from jsonschema import Draft202012Validator, validators
except ImportError:  # pragma: no cover
    sys.stderr.write("agreement.py: needs the jsonschema package (pip install jsonschema)\n")
    sys.exit(2)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = Path("schemas/plan.schema.json")
VALID_DIRS = [Path("plans"), Path("examples"), Path("Tests/Fixtures/valid")]
SCHEMA_INVALID_DIR = Path("Tests/Fixtures/invalid/schema")
SEMANTIC_INVALID_DIR = Path("Tests/Fixtures/invalid/semantic")

SCHEMA_CODES = {
    "unknown-key", "wrong-type", "missing-key", "invalid-value", "unsupported-version",
    "conflicting-keys", "key-for-other-transport", "unknown-transport",
}
SEMANTIC_CODES = {
    "fill-not-last", "too-many-primaries", "multiple-extended", "logical-without-extended",
    "logical-before-extended", "extended-on-gpt", "logical-on-gpt", "bootable-on-gpt", "name-on-dos",
    "layout-too-large", "percent-over-100", "duplicate-id", "duplicate-mount", "duplicate-node",
    "duplicate-address", "duplicate-mac", "duplicate-key", "no-root", "mount-not-normalized",
    "mount-without-filesystem", "filesystem-type-mismatch", "label-too-long", "excluded-golden",
    "excluded-target", "target-is-golden", "exclude-root", "node-count-mismatch", "range-mismatch",
    "mac-on-range", "group-not-multicast", "grub-efi-without-esp", "grub-bios-gpt-without-bios-boot",
    "lilo-on-gpt", "label-required", "port-conflict", "fec-too-large",
}
EXPECT = re.compile(r"^# expect: ([a-z0-9-]+)\s*$")
TIMEOUT = 120


def strict_integer(checker, instance):
    """kaplan's typing: only a plain integer is an integer (3.0 is a number, true is a boolean)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


# JSON Schema counts 3.0 as an integer; kaplan does not (an integer key wants a plain `3`).
StrictValidator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", strict_integer),
)


def schema_key_paths(schema):
    """Every key path the schema accepts: `a`, `a.b`, `a[].b`; walks properties, items, prefixItems,
    if/then/else, allOf/anyOf/oneOf, dependentSchemas and local $refs. A property whose schema can
    never match (false, or `not: {}`) is a refusal, not a key, and is skipped."""
    paths = set()

    def resolve(ref):
        if not ref.startswith("#"):
            raise ValueError(f"only local $refs are supported, found {ref}")
        node = schema
        for part in [p for p in ref[1:].split("/") if p]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def never(sub):
        return sub is False or (isinstance(sub, dict) and sub.get("not") == {})

    def walk(node, prefix, active):
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if ref is not None and (ref, prefix) not in active:
            walk(resolve(ref), prefix, active | {(ref, prefix)})
        for name, sub in node.get("properties", {}).items():
            if never(sub):
                continue
            path = f"{prefix}.{name}" if prefix else name
            paths.add(path)
            walk(sub, path, active)
        items = node.get("items")
        if isinstance(items, dict):
            walk(items, prefix + "[]", active)
        for sub in node.get("prefixItems", []):
            walk(sub, prefix + "[]", active)
        for keyword in ("allOf", "anyOf", "oneOf"):
            for sub in node.get(keyword, []):
                walk(sub, prefix, active)
        for keyword in ("if", "then", "else"):
            walk(node.get(keyword), prefix, active)
        for sub in node.get("dependentSchemas", {}).values():
            walk(sub, prefix, active)

    walk(schema, "", frozenset())
    return paths


class Run:
    """Runs the kaplan binary from the repository root, with paths relative to it."""

    def __init__(self, kaplan):
        self.kaplan = kaplan

    def __call__(self, *args):
        try:
            done = subprocess.run(
                [self.kaplan, *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None, "", f"timed out after {TIMEOUT}s"
        except OSError as error:
            return None, "", str(error)
        return done.returncode, done.stdout, done.stderr


def first_line(text):
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def expected_code(path):
    with open(ROOT / path, encoding="utf-8", errors="replace") as f:
        match = EXPECT.match(f.readline())
    return match.group(1) if match else None


def plan_files(directory):
    return sorted(p.relative_to(ROOT) for p in (ROOT / directory).glob("*.yaml"))


def main():
    parser = argparse.ArgumentParser(description="schema ⇄ kaplan agreement check")
    parser.add_argument("--kaplan", required=True, help="path to the kaplan binary")
    parser.add_argument("--require-codes", action="store_true",
                        help="fail an invalid fixture whose `# expect:` code is not in kaplan check's output")
    options = parser.parse_args()

    kaplan = os.path.abspath(options.kaplan)
    if not (os.path.isfile(kaplan) and os.access(kaplan, os.X_OK)):
        sys.stderr.write(f"agreement.py: {options.kaplan} is not an executable file\n")
        return 2
    run = Run(kaplan)
    passed = failed = 0

    def report(ok, subject, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
        print(f"{'PASS' if ok else 'FAIL'} {subject}" + (f": {detail}" if detail else ""), flush=True)

    # (e) the schema itself
    try:
        schema = json.loads((ROOT / SCHEMA_PATH).read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(schema)
        report(True, f"{SCHEMA_PATH} (valid draft 2020-12 schema)")
    except (OSError, ValueError, jsonschema.SchemaError) as error:
        report(False, str(SCHEMA_PATH), f"not a valid schema: {str(error).splitlines()[0]}")
        print(f"agreement: {passed} passed, {failed} failed")
        return 1
    validator = StrictValidator(schema)

    def schema_errors(path):
        """(errors, problem): the schema's error messages for the plan as kaplan reads it, or a problem
        converting it."""
        status, out, err = run("dev", "yaml-to-json", path)
        if status != 0:
            return None, f"`kaplan dev yaml-to-json` exited {status}: {first_line(err) or first_line(out)}"
        try:
            document = json.loads(out)
        except ValueError as error:
            return None, f"`kaplan dev yaml-to-json` printed invalid JSON: {error}"
        errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
        return [f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:160]}" for e in errors], None

    # (a) valid plans
    for directory in VALID_DIRS:
        for path in plan_files(directory):
            problems = []
            errors, problem = schema_errors(path)
            if problem:
                problems.append(problem)
            elif errors:
                problems.append(f"schema refused it ({len(errors)} error(s)): {errors[0]}")
            status, out, err = run("check", path)
            if status != 0:
                problems.append(f"`kaplan check` exited {status}: {first_line(out) or first_line(err)}")
            report(not problems, str(path), "; ".join(problems))

    # (b) plans the schema must refuse, and kaplan too
    for path in plan_files(SCHEMA_INVALID_DIR):
        problems, notes = [], []
        code = expected_code(path)
        if code not in SCHEMA_CODES:
            problems.append(f"line 1 must be `# expect: CODE` with CODE one of {', '.join(sorted(SCHEMA_CODES))}")
        errors, problem = schema_errors(path)
        if problem:
            problems.append(problem)
        elif not errors:
            problems.append("schema accepted it")
        status, out, err = run("check", path)
        if status != 1:
            problems.append(f"`kaplan check` exited {status}, expected 1: {first_line(out) or first_line(err)}")
        elif code and code not in out + err:
            (problems if options.require_codes else notes).append(f"code {code} not in kaplan check's output")
        detail = "; ".join(problems + [f"note: {n}" for n in notes])
        report(not problems, f"{path} [{code}]", detail)

    # (c) plans only kaplan's semantic checks refuse
    for path in plan_files(SEMANTIC_INVALID_DIR):
        problems, notes = [], []
        code = expected_code(path)
        if code not in SEMANTIC_CODES:
            problems.append(f"line 1 must be `# expect: CODE` with CODE one of {', '.join(sorted(SEMANTIC_CODES))}")
        errors, problem = schema_errors(path)
        if problem:
            notes.append(f"schema: {problem}")
        else:
            notes.append("schema accepts it" if not errors else f"schema refuses it too: {errors[0]}")
        status, out, err = run("check", path)
        if status != 1:
            problems.append(f"`kaplan check` exited {status}, expected 1")
        elif code and code not in out + err:
            message = f"code {code} not in kaplan check's output"
            if options.require_codes:
                problems.append(message)
            else:
                notes.append(message)
        report(not problems, f"{path} [{code}]", "; ".join(problems + [f"note: {n}" for n in notes]))

    # (d) key paths
    status, out, err = run("dev", "plan-keys")
    if status != 0:
        report(False, "key paths", f"`kaplan dev plan-keys` exited {status}: {first_line(err) or first_line(out)}")
    else:
        from_schema = schema_key_paths(schema)
        from_kaplan = {line.strip() for line in out.splitlines() if line.strip()}
        only_schema = sorted(from_schema - from_kaplan)
        only_kaplan = sorted(from_kaplan - from_schema)
        report(not only_schema and not only_kaplan, f"key paths ({len(from_schema)} in the schema)",
               "" if not (only_schema or only_kaplan) else
               f"{len(only_schema)} only in the schema, {len(only_kaplan)} only in kaplan")
        for key in only_schema:
            print(f"  only in the schema: {key}")
        for key in only_kaplan:
            print(f"  only in kaplan dev plan-keys: {key}")

    print(f"agreement: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
