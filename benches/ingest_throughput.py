"""Ingest throughput through each front end of a running Shoal (e.g.
`shoal local`): HTTP NDJSON, Elasticsearch `_bulk`, OTLP/HTTP protobuf and
OTLP/gRPC, from the shared NDJSON data set (`gen_logs.py --format ndjson`).
Bodies are built before the clock starts; each path sends them from
`--clients` threads and checks that every row was accepted.

    python benches/ingest_throughput.py --data /tmp/logs1m.ndjson \
        --http 127.0.0.1:8080 --grpc 127.0.0.1:50051

`--request-mib 8` cuts the data into requests of up to 8 MiB of NDJSON
instead of `--rows-per-request`; `--clients 1,4` runs each path once per
client count; `--paths` picks the paths; `--peers PYTHON` first loads the
same file into DuckDB (`read_json`) and ClickHouse (chDB, `JSONEachRow`)
with `json_peers.py` run by that Python (which has `duckdb` and `chdb`).

Needs the packages of tests/python/requirements.txt (grpcio and the
OpenTelemetry protobuf types come with the OTLP exporters).
"""

import argparse
import json
import os
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.resource.v1 import resource_pb2

Response = logs_service_pb2.ExportLogsServiceResponse


def timed(name, bodies, send, clients, unit):
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        total = sum(pool.map(send, bodies))
    elapsed = time.perf_counter() - started
    print(f"{name}: {total} {unit} in {elapsed:.2f} s = {total / elapsed:,.0f} {unit}/s "
          f"({len(bodies)} requests, {clients} concurrent)", flush=True)


def http_post(address, path, body, headers):
    request = urllib.request.Request(f"http://{address}{path}", data=body, method="POST", headers=headers)
    with urllib.request.urlopen(request) as answer:
        return answer.read()


def any_value(value):
    if isinstance(value, bool):
        return common_pb2.AnyValue(bool_value=value)
    if isinstance(value, int):
        return common_pb2.AnyValue(int_value=value)
    if isinstance(value, float):
        return common_pb2.AnyValue(double_value=value)
    if isinstance(value, list):
        return common_pb2.AnyValue(array_value=common_pb2.ArrayValue(
            values=[common_pb2.AnyValue(string_value=str(item)) for item in value]))
    return common_pb2.AnyValue(string_value=str(value))


def otlp_body(lines):
    records = []
    for line in lines:
        row = json.loads(line)
        stamp = row.pop("timestamp", None) or row.pop("time", None)
        nanos = 0
        if isinstance(stamp, str):
            nanos = int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1e9)
        attributes = [common_pb2.KeyValue(key=k, value=any_value(v)) for k, v in row.items() if v is not None]
        records.append(logs_pb2.LogRecord(time_unix_nano=nanos, severity_number=9,
                                          body=common_pb2.AnyValue(string_value=str(row.get("endpoint", ""))),
                                          attributes=attributes))
    resource = resource_pb2.Resource(attributes=[common_pb2.KeyValue(key="service.name", value=any_value("bench"))])
    return logs_service_pb2.ExportLogsServiceRequest(resource_logs=[
        logs_pb2.ResourceLogs(resource=resource, scope_logs=[logs_pb2.ScopeLogs(log_records=records)])])


def cut(lines, rows_per_request, request_bytes):
    """The lines in requests: `rows_per_request` each, or up to `request_bytes`."""
    if not request_bytes:
        return [lines[i:i + rows_per_request] for i in range(0, len(lines), rows_per_request)]
    chunks, chunk, size = [], [], 0
    for line in lines:
        if chunk and size + len(line) + 1 > request_bytes:
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        chunks.append(chunk)
    return chunks


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--http", default="127.0.0.1:8080")
    parser.add_argument("--grpc", default="127.0.0.1:50051")
    parser.add_argument("--rows-per-request", type=int, default=20_000)
    parser.add_argument("--request-mib", type=float, default=0,
                        help="requests of up to this many MiB of NDJSON instead of --rows-per-request")
    parser.add_argument("--clients", default="2", help="concurrent clients, or a list such as 1,4")
    parser.add_argument("--paths", default="ndjson,bulk,otlp_http,otlp_grpc")
    parser.add_argument("--peers", help="a Python with duckdb and chdb: load the file into both first")
    args = parser.parse_args()
    paths = set(args.paths.split(","))
    if args.peers:
        peers = os.path.join(os.path.dirname(os.path.abspath(__file__)), "json_peers.py")
        subprocess.run([args.peers, peers, args.data], check=True)
    with open(args.data, "rb") as file:
        lines = [line for line in file.read().split(b"\n") if line]
    chunks = cut(lines, args.rows_per_request, int(args.request_mib * 1024 * 1024))
    print(f"({len(lines)} rows in {len(chunks)} requests of up to {max(map(len, chunks))} rows)", flush=True)
    client_counts = [int(c) for c in args.clients.split(",")]

    def ndjson(body):
        answer = json.loads(http_post(args.http, "/api/v1/ingest/bench_ndjson", body,
                                      {"content-type": "application/x-ndjson"}))
        assert answer["rejected"] == 0, answer
        return answer["accepted"]
    if "ndjson" in paths:
        bodies = [b"\n".join(chunk) for chunk in chunks]
        for clients in client_counts:
            timed("HTTP NDJSON", bodies, ndjson, clients, "rows")

    action = b'{"index":{"_index":"bench_bulk"}}'

    def bulk(body):
        # As Vector and Fluent Bit read it: the items are parsed only when
        # `"errors":true` says some failed; every stored item has status 201.
        answer = http_post(args.http, "/_bulk", body, {"content-type": "application/x-ndjson"})
        assert answer.startswith(b'{"errors":false,'), answer[:500]
        return answer.count(b'"status":201}')
    if "bulk" in paths:
        bodies = [b"\n".join(part for line in chunk for part in (action, line)) + b"\n" for chunk in chunks]
        for clients in client_counts:
            timed("_bulk", bodies, bulk, clients, "rows")
    if not paths & {"otlp_http", "otlp_grpc"}:
        return

    started = time.perf_counter()
    requests = [otlp_body(chunk) for chunk in chunks]
    encoded = [request.SerializeToString() for request in requests]
    print(f"(built {len(requests)} OTLP requests in {time.perf_counter() - started:.1f} s, "
          f"{sum(map(len, encoded)) / len(lines):.0f} bytes per record)", flush=True)

    def otlp_http(body_and_records):
        body, records = body_and_records
        answer = Response.FromString(http_post(args.http, "/v1/logs", body, {
            "content-type": "application/x-protobuf", "x-shoal-table": "bench_otlp_http"}))
        assert answer.partial_success.rejected_log_records == 0, answer
        return records
    if "otlp_http" in paths:
        counted = [(body, len(chunk)) for body, chunk in zip(encoded, chunks)]
        for clients in client_counts:
            timed("OTLP/HTTP protobuf", counted, otlp_http, clients, "records")

    channel = grpc.insecure_channel(args.grpc, options=[("grpc.max_send_message_length", 64 << 20)])
    # The messages go as the bytes serialized above (no serializer), as the
    # HTTP paths post bodies built before the clock starts: Python's
    # protobuf took 25 ms of client CPU to serialize each 9 MB request.
    export = channel.unary_unary(
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        request_serializer=None, response_deserializer=Response.FromString)

    def otlp_grpc(body_and_records):
        body, records = body_and_records
        answer = export(body, metadata=[("x-shoal-table", "bench_otlp_grpc")])
        assert answer.partial_success.rejected_log_records == 0, answer
        return records
    if "otlp_grpc" in paths:
        counted = [(body, len(chunk)) for body, chunk in zip(encoded, chunks)]
        for clients in client_counts:
            timed("OTLP/gRPC", counted, otlp_grpc, clients, "records")


if __name__ == "__main__":
    main()
