"""Every lab in labs/ matches labs/lab.schema.json (which refers to the
policy schema for its policies), and the schema refuses what vpcd refuses.

Usage: lab_schema_check.py ROOT"""
import glob
import json
import sys

import jsonschema
import yaml

root = sys.argv[1]
lab = json.load(open(root + "/labs/lab.schema.json"))
policy = json.load(open(root + "/policies/policy.schema.json"))
jsonschema.Draft202012Validator.check_schema(lab)
resolver = jsonschema.RefResolver.from_schema(lab, store={policy["$id"]: policy, lab["$id"]: lab})
validator = jsonschema.Draft202012Validator(lab, resolver=resolver)

files = sorted(glob.glob(root + "/labs/*.yaml"))
if len(files) < 3:
    sys.exit("expected at least three example labs in labs/, found %d" % len(files))
failed = False
for f in files:
    for e in validator.iter_errors(yaml.safe_load(open(f))):
        print("%s: %s: %s" % (f, "/".join(map(str, e.absolute_path)), e.message))
        failed = True

# The schema can fail: each of these is refused.
shop = yaml.safe_load(open(root + "/labs/shop.yaml"))
bad = [
    {**shop, "colour": "blue"},
    {**shop, "vpcs": [{"name": "Prod", "cidr": "10.10.0.0/16"}]},
    {**shop, "instances": [{"name": "x", "nics": [{"subnet": "prod"}]}]},
    {**shop, "expect": [{"from": "a", "to": "b"}]},
    {**shop, "port_forwards": [{"name": "web", "listen_port": 0, "target": "api"}]},
    {**shop, "port_forwards": [{"name": "web", "listen_port": 80}]},
    {**shop, "flow_logs": [{"name": "f", "target": "prod", "aggregation_s": 0}]},
    {**shop, "flow_logs": [{"name": "f", "target": "prod/web/x"}]},
]
for doc in bad:
    if validator.is_valid(doc):
        print("the schema accepts a bad document: %s" % json.dumps(doc)[:200])
        failed = True
sys.exit(1 if failed else 0)
