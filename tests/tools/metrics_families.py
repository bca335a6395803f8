"""Parses a /metrics exposition from stdin with the Python prometheus_client
and prints its families as JSON, one object per family in order:
{"name", "type", "samples": [sample names]}.

`openmetrics` uses the OpenMetrics parser, which is strict (a family twice,
a counter sample without `_total`, a missing `# EOF` are errors);
`prometheus` uses the text format 0.0.4 parser. A parse error exits 1 with
the parser's message on stderr.
"""

import json
import sys

from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text


def main() -> int:
    fmt = sys.argv[1]
    text = sys.stdin.read()
    parse = {"openmetrics": parse_openmetrics, "prometheus": parse_text}[fmt]
    try:
        families = [
            {
                "name": family.name,
                "type": family.type,
                "samples": [sample.name for sample in family.samples],
            }
            for family in parse(text)
        ]
    except Exception as error:  # the parsers raise ValueError and others
        print(f"{fmt} parser refused the exposition: {error!r}", file=sys.stderr)
        return 1
    json.dump(families, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
