# Parses OpenMetrics text from stdin with Prometheus's reference parser (prometheus_client) and
# prints the metric families as JSON, for the browser tests to inspect.
import sys, json
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type, "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in f.samples]})
print(json.dumps(out))
