"""Checking a real answer against what the server's own /openapi.json documents for it: its status is
declared (exactly or as 4XX/5XX), a JSON body validates against the declared schema (JSON Schema 2020-12,
which OpenAPI 3.1 uses), a file body comes with the declared media type, and a HEAD answer has no body."""

from __future__ import annotations

from typing import Any

import requests
from jsonschema import Draft202012Validator


class Contract:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.answered: set[tuple[str, str, int]] = set()  # (method, path template, status) seen and checked

    @classmethod
    def of(cls, base_url: str) -> Contract:
        return cls(requests.get(f"{base_url}/openapi.json", timeout=30).json())

    def operations(self) -> set[tuple[str, str]]:
        return {(method.upper(), path) for path, item in self.doc["paths"].items() for method in item}

    def declared(self, method: str, template: str, status: int) -> dict[str, Any]:
        responses = self.doc["paths"][template][method.lower()]["responses"]
        found = responses.get(str(status)) or responses.get(f"{status // 100}XX")
        assert found is not None, f"{method} {template}: {status} is not documented ({sorted(responses)})"
        return found

    def violations(self, method: str, template: str, answer: requests.Response) -> list[str]:
        """What is wrong with `answer` as an answer of `method template` (empty when it is as documented)."""
        where = f"{method} {template} → {answer.status_code}"
        declared = self.declared(method, template, answer.status_code)
        content: dict[str, Any] = declared.get("content", {})
        if method == "HEAD":
            return [f"{where}: a HEAD answer has a body"] if answer.content else []
        if not content:
            return [f"{where}: a body where none is documented"] if answer.content else []
        media_type = answer.headers.get("content-type", "").split(";")[0].strip()
        if "application/json" in content:
            if media_type != "application/json":
                return [f"{where}: {media_type!r} instead of JSON"]
            schema = content["application/json"]["schema"]
            validator = Draft202012Validator({**schema, "components": self.doc["components"]})
            return [
                f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(answer.json())
            ]
        if media_type not in content and "application/octet-stream" not in content:
            return [f"{where}: {media_type!r} is not one of {sorted(content)}"]
        return []

    def check(self, method: str, template: str, answer: requests.Response) -> requests.Response:
        problems = self.violations(method, template, answer)
        assert not problems, "\n".join(problems[:10])
        self.answered.add((method, template, answer.status_code))
        return answer

    def succeeded(self) -> set[tuple[str, str]]:
        return {(method, template) for method, template, status in self.answered if status < 400}
