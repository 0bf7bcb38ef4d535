"""Validate every HTTP reply against openapi.yaml.

A reply whose status is not documented for its route, whose content type is
not the documented one, or whose JSON body does not match the documented
schema (additionalProperties: false throughout) fails the test that got it.
"""
import copy
import json
import re

import jsonschema
import yaml


ANNOTATIONS = ("nullable", "example", "examples", "description", "discriminator", "xml", "externalDocs",
               "deprecated", "readOnly", "writeOnly")


def _to_json_schema(node):
    """OpenAPI schema objects -> plain JSON Schema (3.0's nullable -> a null type; 3.1 passes through)."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for k, v in node.items():
        if k in ("properties", "patternProperties", "$defs"):
            out[k] = {name: _to_json_schema(sub) for name, sub in v.items()}  # names, not keywords
        elif k not in ANNOTATIONS:
            out[k] = _to_json_schema(v)
    if node.get("nullable"):
        t = out.get("type")
        if isinstance(t, str):
            out["type"] = [t, "null"]
        if "enum" in out:
            out["enum"] = list(out["enum"]) + [None]
        if "$ref" in out or "oneOf" in out or "allOf" in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class Contract:
    def __init__(self, path):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        schemas = self.doc.get("components", {}).get("schemas", {})
        self.schema_root = {"components": {"schemas": {k: _to_json_schema(copy.deepcopy(v)) for k, v in schemas.items()}}}
        self.routes = []
        for template, item in self.doc["paths"].items():
            rx = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
            self.routes.append((re.compile(rx), template, item))
        self.checked = 0

    def _resolve(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            parts = obj["$ref"].lstrip("#/").split("/")
            node = self.doc
            for p in parts:
                node = node[p]
            obj = node
        return obj

    def _validate_body(self, schema, body, where):
        schema = _to_json_schema(schema)
        full = dict(schema)
        full["components"] = self.schema_root["components"]
        try:
            jsonschema.validate(body, full, cls=jsonschema.Draft202012Validator)
        except jsonschema.ValidationError as e:
            raise AssertionError("%s: reply does not match openapi.yaml: %s at %s; body: %s"
                                 % (where, e.message, list(e.absolute_path), json.dumps(body)[:600]))

    def validate(self, method, path, resp):
        path = path.split("?")[0]
        where = "%s %s -> %d" % (method, path, resp.status)
        method = method.lower()
        if method == "head":
            method = "get"
        route = next(((t, item) for rx, t, item in self.routes if rx.match(path)), None)
        if route is None:
            # Undocumented paths: the one documented answer is the 404 error shape.
            assert resp.status == 404, where + ": an unknown route must answer 404"
            spec = self._resolve(self.doc["components"]["responses"]["NotFound"])
        else:
            template, item = route
            op = item.get(method)
            if op is None:
                assert resp.status == 405, where + ": a method the route does not have must answer 405"
                spec = self._resolve(self.doc["components"]["responses"]["MethodNotAllowed"])
            else:
                responses = op["responses"]
                spec = responses.get(str(resp.status)) or responses.get("default")
                assert spec is not None, "%s: status %d is not documented for %s %s" % (where, resp.status, method.upper(), template)
                spec = self._resolve(spec)
        content = spec.get("content", {})
        ctype = (resp.header("Content-Type") or "").split(";")[0].strip()
        if not content:
            assert not resp.body, where + ": documented without a body, but one came"
            self.checked += 1
            return
        if ctype not in content and "*/*" in content:
            ctype = "*/*"  # documented as any (or no) media type: the HTTP layer's own pages
        assert ctype in content, "%s: content type %r is not documented (%s)" % (where, ctype, list(content))
        media = content[ctype]
        if ctype.endswith("json"):
            body = json.loads(resp.body)
            if "schema" in media:
                self._validate_body(media["schema"], body, where)
        self.checked += 1
