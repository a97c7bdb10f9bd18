"""Turns bench/ records into Markdown and JSON.

  report.py RESULTS.tsv OUT.json

Each line of RESULTS.tsv is "section<TAB>row<TAB>value" (one run's figure),
or "section<TAB>#ratio<TAB>label|numerator row|denominator row|target" (the
ratio of the two rows' medians). Rows keep the order they were first
recorded in; every figure is printed as median (min-max) of its runs."""
import json
import statistics
import sys

sections = {}  # section -> {"rows": {row: [values]}, "ratios": [...]}
for line in open(sys.argv[1]):
    section, row, value = line.rstrip("\n").split("\t")
    s = sections.setdefault(section, {"rows": {}, "ratios": []})
    if row == "#ratio":
        s["ratios"].append(value.split("|"))
    else:
        s["rows"].setdefault(row, []).append(float(value))


def fmt(v):
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"


out = {}
for name, s in sections.items():
    out[name] = {"rows": {}, "ratios": []}
    runs = max(len(v) for v in s["rows"].values())
    print(f"\n### {name}\n\n| {name} ({runs} runs) | median (min-max) |\n|---|---|")
    for row, values in s["rows"].items():
        med = statistics.median(values)
        out[name]["rows"][row] = {"median": med, "min": min(values), "max": max(values),
                                  "values": values}
        print(f"| {row} | {fmt(med)} ({fmt(min(values))}-{fmt(max(values))}) |")
    if s["ratios"]:
        print("\n| ratio of medians | value | target |\n|---|---|---|")
    for label, num, den, target in s["ratios"]:
        value = statistics.median(s["rows"][num]) / statistics.median(s["rows"][den])
        out[name]["ratios"].append({"label": label, "value": value, "target": target})
        print(f"| {label} | {value:.2f} | {target} |")
json.dump(out, open(sys.argv[2], "w"), indent=1)
