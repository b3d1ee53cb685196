"""Sends log records to Shoal with the OpenTelemetry Python SDK's OTLP
exporter, the way a Python service does: the standard `logging` module,
the SDK's LoggingHandler and a batch processor, inside a traced span.

Usage: otel_client.py grpc|http ENDPOINT SERVICE COUNT [TOKEN]
(TOKEN goes as `authorization: Bearer TOKEN`, as OTEL_EXPORTER_OTLP_HEADERS would send it)
Prints "otel ok TRACE_ID" once every record was exported.
"""

import logging
import sys

from opentelemetry import trace
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


class CheckedExporter:
    """Wraps the exporter to remember whether every export succeeded."""

    def __init__(self, inner):
        self.inner = inner
        self.failures = 0
        self.exported = 0

    def export(self, batch):
        result = self.inner.export(batch)
        if result == LogRecordExportResult.SUCCESS:
            self.exported += len(batch)
        else:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def main():
    protocol, endpoint, service, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    headers = {"authorization": f"Bearer {sys.argv[5]}"} if len(sys.argv) > 5 else None
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        inner = OTLPLogExporter(endpoint=endpoint, insecure=True, headers=headers)
    else:
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        inner = OTLPLogExporter(endpoint=endpoint + "/v1/logs", compression=Compression.Gzip, headers=headers)
    exporter = CheckedExporter(inner)
    resource = Resource.create({"service.name": service, "deployment.environment": "test"})
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=100))
    logger = logging.getLogger("shoal.otel_test")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))

    tracer = TracerProvider(resource=resource).get_tracer("shoal.otel_test")
    with tracer.start_as_current_span("checkout") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        for number in range(count):
            level = logging.WARNING if number % 10 == 0 else logging.INFO
            logger.log(level, "request %d done", number,
                       extra={"request.number": number, "http.status_code": 200 + number % 3})
    provider.force_flush()
    provider.shutdown()
    if exporter.failures or exporter.exported != count:
        print(f"otel failed: exported {exporter.exported} of {count}, {exporter.failures} failed exports")
        sys.exit(1)
    print(f"otel ok {trace_id}")


if __name__ == "__main__":
    main()
