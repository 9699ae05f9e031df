"""Translate a SAM template to CloudFormation as `sam validate` does, offline.

Usage: python3 sam_translate.py TEMPLATE > translated.json

Like `sam validate`, it first stands in s3:// placeholders for the local
CodeUri/ContentUri paths (which `sam deploy` uploads), then runs the AWS SAM
translator (the aws-sam-translator package that the SAM CLI uses) with no
managed-policy lookups. A template the translator rejects exits 1 with its
errors on stderr. deploy/template_test.go runs it.
"""
import json
import os
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

CODE_PATHS = {"AWS::Serverless::Function": "CodeUri", "AWS::Serverless::LayerVersion": "ContentUri"}


class NoManagedPolicies:
    def load(self):
        return {}


def main(path):
    with open(path) as f:
        template = yaml_parse(f.read())
    for name, res in template.get("Resources", {}).items():
        key = CODE_PATHS.get(res.get("Type"))
        props = res.get("Properties", {})
        if key and isinstance(props.get(key), str) and not props[key].startswith("s3://"):
            props[key] = "s3://placeholder-bucket/" + name
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    try:
        out = transform(template, {}, NoManagedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(cause.message, file=sys.stderr)
        sys.exit(1)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
