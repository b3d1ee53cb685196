"""ADBC (adbc_driver_flightsql) against an aggregator that requires tokens.

Run by tests/security.rs and tests/tls.rs with: URI, an ingest token for
`req*`, a read token for `req*`, and the CA certificate's path ("" for
plain gRPC). Exits non-zero on the first thing that does not hold.
"""
import sys
import time

import adbc_driver_flightsql.dbapi as flightsql
import adbc_driver_manager
import pyarrow as pa

uri, writer, reader, ca = sys.argv[1:5]
tls = {}
if ca:
    with open(ca) as f:
        tls["adbc.flight.sql.client_option.tls_root_certs"] = f.read()


def connect(**options):
    return flightsql.connect(uri, db_kwargs={**tls, **options}, autocommit=True)


def refused(options, action):
    try:
        with connect(**options) as con, con.cursor() as cur:
            action(cur)
    except adbc_driver_manager.Error as error:
        return str(error)
    raise AssertionError(f"{options} was not refused")


# The writer logs in with username/password: a Flight SQL Handshake with
# Basic credentials, answered with a bearer token.
table = pa.table({"n": pa.array(range(100), pa.int64())})
with connect(username="loader", password=writer) as con, con.cursor() as cur:
    assert cur.adbc_ingest("requests_adbc", table, mode="create_append") == 100

# The reader sends its token as a header.
with connect(**{"adbc.flight.sql.authorization_header": f"Bearer {reader}"}) as con:
    with con.cursor() as cur:
        for _ in range(50):
            try:
                cur.execute("SELECT count(*) FROM requests_adbc")
                rows = cur.fetchall()
            except adbc_driver_manager.Error:
                rows = None
            if rows == [(100,)]:
                break
            time.sleep(0.1)
        assert rows == [(100,)], rows

message = refused({"username": "x", "password": "shoal_wrong"}, lambda cur: cur.execute("SELECT 1"))
assert "nauthenticated" in message or "UNAUTHENTICATED" in message, message
message = refused(
    {"username": "x", "password": reader},
    lambda cur: cur.adbc_ingest("requests_adbc", table, mode="append"),
)
assert "may not" in message, message
print("adbc auth ok: ingest with username/password, query with a bearer header, wrong ones refused")
