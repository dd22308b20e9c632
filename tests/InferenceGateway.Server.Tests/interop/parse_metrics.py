#!/usr/bin/python3
"""Parses a Prometheus text exposition with the reference client library's parser (Debian's python3-prometheus-client),
independently of the gateway's own code and of the tests' C# parser, and prints every sample as one JSON object:
{"name{label="value",...}": value, ...}, labels sorted by name. Exits non-zero when the parser rejects the text.

    /usr/bin/python3 parse_metrics.py FILE
"""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def key(name, labels):
    return name + "{" + ",".join(f'{k}="{labels[k]}"' for k in sorted(labels)) + "}"


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    samples = {}
    families = 0
    for family in text_string_to_metric_families(text):
        families += 1
        for sample in family.samples:
            k = key(sample.name, sample.labels)
            if k in samples:
                print(f"duplicate sample {k}", file=sys.stderr)
                sys.exit(3)
            value = sample.value
            samples[k] = "NaN" if math.isnan(value) else ("+Inf" if value == math.inf else ("-Inf" if value == -math.inf else value))
    json.dump({"families": families, "samples": samples}, sys.stdout)


if __name__ == "__main__":
    main()
