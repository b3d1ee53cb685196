"""The Python clients people point at Shoal, one scenario per subcommand.

Run by tests/clients.rs: `clients.py SCENARIO HOST:PORT [ARG]`, where
HOST:PORT is the aggregator's Flight SQL address. Each scenario does what a
user of that client does and prints one JSON line with what the client
returned; the Rust test compares it with the answer computed from the rows
it ingested. A client that raises ends the script with its traceback (the
Rust test shows it), except where the error is the expected answer
(`flight-min-completeness`), which prints it.

The `flightsql-dbapi-*` scenarios need SQLAlchemy 1.4 (flightsql-dbapi
requires sqlalchemy<2, pandas and sqlalchemy-adbc require 2): they run with
the Python of tests/python/requirements-sqlalchemy1.txt and import nothing
else from here.
"""
import json
import sys

# Two queries every reading client runs, with a bound parameter.
BY_STATUS = "SELECT service, count(*) AS n FROM client_rows WHERE status = ? GROUP BY service ORDER BY service"
BY_SERVICE_NAMED = "SELECT count(*) AS n, sum(latency_ms) AS total FROM client_rows WHERE service = :s"


def plain(value):
    """JSON for numpy and Arrow scalars."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def emit(result):
    print(json.dumps(result, default=plain, sort_keys=True))


def adbc_connect(address):
    import adbc_driver_flightsql.dbapi as flightsql

    return flightsql.connect(f"grpc://{address}", autocommit=True)


def adbc_engine(address):
    import sqlalchemy

    return sqlalchemy.create_engine(f"adbc+flightsql://{address}?tls=false")


def frame_rows(frame):
    """A pandas frame as {column: [values]}."""
    return {column: [plain(v) for v in frame[column].tolist()] for column in frame.columns}


# ── pandas ──────────────────────────────────────────────────────────────


def pandas_adbc_read(address):
    """pandas refuses `params` with an ADBC connection (pandas 3.1:
    "'params' is not implemented for ADBC drivers"), so a user binds the
    parameter on the ADBC cursor and takes its frame (`fetch_df`), or
    reads without one."""
    import pandas as pd

    with adbc_connect(address) as con:
        literal = pd.read_sql(BY_STATUS.replace("?", "200"), con)
        with con.cursor() as cursor:
            cursor.execute(BY_STATUS, parameters=(200,))
            bound = cursor.fetch_df()
    emit({"read_sql": frame_rows(literal), "cursor_fetch_df": frame_rows(bound)})


def pandas_sqlalchemy_read(address):
    import pandas as pd
    from sqlalchemy import text

    engine = adbc_engine(address)
    emit(frame_rows(pd.read_sql(text(BY_SERVICE_NAMED), engine, params={"s": "api"})))


def appended_frame():
    import pandas as pd

    return pd.DataFrame(
        {
            "service": ["api", "db", "web"],
            "status": [200, 404, 500],
            "latency_ms": [1.5, 2.5, 3.5],
        }
    )


def pandas_to_sql_append(address, table):
    frame = appended_frame()
    with adbc_connect(address) as con:
        first = frame.to_sql(table, con, if_exists="append", index=False)
        second = frame.to_sql(table, con, if_exists="append", index=False)
    emit({"first": first, "second": second})


def pandas_to_sql_replace(address, table):
    import pandas as pd

    with adbc_connect(address) as con:
        first = appended_frame().to_sql(table, con, if_exists="append", index=False)
        replacement = pd.DataFrame({"service": ["new", "new"], "status": [201, 202], "latency_ms": [7.0, 8.0]})
        replaced = replacement.to_sql(table, con, if_exists="replace", index=False)
    emit({"first": first, "replaced": replaced})


# ── polars ──────────────────────────────────────────────────────────────


def polars_read(address):
    import polars as pl

    with adbc_connect(address) as con:
        frame = pl.read_database(BY_STATUS, connection=con, execute_options={"parameters": [200]})
    emit(frame.to_dict(as_series=False))


def polars_write(address, table):
    import polars as pl

    frame = pl.DataFrame({"service": ["api", "db"], "status": [200, 500], "latency_ms": [0.5, 9.5]})
    with adbc_connect(address) as con:
        first = frame.write_database(table, connection=con, engine="adbc", if_table_exists="append")
        second = frame.write_database(table, connection=con, engine="adbc", if_table_exists="append")
    emit({"first": first, "second": second})


# ── SQLAlchemy reflection ───────────────────────────────────────────────


def reflected_columns(engine, table):
    import sqlalchemy

    inspector = sqlalchemy.inspect(engine)
    has_table = inspector.has_table(table)
    columns = []
    for column in inspector.get_columns(table):
        column_type = column["type"]
        if isinstance(column_type, type):  # flightsql-dbapi gives classes
            column_type = column_type()
        try:
            python_type = column_type.python_type.__name__
        except NotImplementedError:
            python_type = None
        columns.append(
            {
                "name": column["name"],
                "type": type(column_type).__name__,
                "python_type": python_type,
                "nullable": column.get("nullable"),
            }
        )
    return {"has_table": has_table, "tables": sorted(inspector.get_table_names()), "columns": columns}


def sqlalchemy_adbc_reflect(address, table):
    emit(reflected_columns(adbc_engine(address), table))


def flightsql_dbapi_engine(address, prepared):
    import flightsql.sqlalchemy  # noqa: F401 (registers the dialect, as its README does)
    import sqlalchemy

    url = f"datafusion+flightsql://{address}?insecure=true"
    if prepared:
        url += "&feature-sqlalchemy-prepared-statements=on"
    return sqlalchemy.create_engine(url)


def flightsql_dbapi_reflect(address, table):
    emit(reflected_columns(flightsql_dbapi_engine(address, prepared=False), table))


def flightsql_dbapi_select(address, mode):
    """`service = 'api'` as a bound parameter of a Core expression, as
    Superset and other SQLAlchemy users build queries. (With `text()` and
    the value given at execute time, the dialect's default literal binding
    renders `service = NULL`: the value is not known when it compiles.)
    flightsql-dbapi turns rows into a numpy array through pandas, so the
    count comes back as a float next to the float sum."""
    import sqlalchemy
    from sqlalchemy import column, func, select

    rows_table = sqlalchemy.table("client_rows", column("service"), column("latency_ms"))
    query = select(func.count().label("n"), func.sum(rows_table.c.latency_ms).label("total")).where(
        rows_table.c.service == "api"
    )
    engine = flightsql_dbapi_engine(address, prepared=(mode == "prepared"))
    with engine.connect() as connection:
        rows = connection.execute(query).fetchall()
    emit([[plain(value) for value in row] for row in rows])


# ── ADBC catalog ────────────────────────────────────────────────────────


def adbc_get_objects(address, table):
    with adbc_connect(address) as con:
        catalogs = con.adbc_get_objects(depth="columns", table_name_filter=table).read_all().to_pylist()
        schema = con.adbc_get_table_schema(table)
    found = [
        {"catalog": catalog["catalog_name"], "db_schema": db_schema["db_schema_name"], "table": listed}
        for catalog in catalogs
        for db_schema in catalog["catalog_db_schemas"] or []
        for listed in db_schema["db_schema_tables"] or []
        if listed["table_name"] == table
    ]
    emit(
        {
            "found": [
                {
                    "catalog": f["catalog"],
                    "db_schema": f["db_schema"],
                    "table_type": f["table"]["table_type"],
                    "columns": f["table"]["table_columns"],
                }
                for f in found
            ],
            "table_schema": {field.name: str(field.type) for field in schema},
        }
    )


# ── pyarrow.flight: completeness ────────────────────────────────────────


def _varint(number):
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_delimited(field, payload):
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def statement_descriptor(sql):
    """A Flight SQL CommandStatementQuery, packed in a protobuf Any (pyarrow
    has no Flight SQL client; two fields need no protobuf library)."""
    import pyarrow.flight as flight

    command = _length_delimited(1, sql.encode())
    packed = _length_delimited(1, b"type.googleapis.com/arrow.flight.protocol.sql.CommandStatementQuery")
    packed += _length_delimited(2, command)
    return flight.FlightDescriptor.for_command(packed)


def metadata_json(raw):
    if raw is None or len(raw) == 0:
        return None
    text = bytes(raw).decode()
    try:
        return json.loads(text)
    except ValueError:
        return {"not_json": text}


def flight_query(address, sql, headers=()):
    """GetFlightInfo then DoGet, as a pyarrow.flight user does: the rows,
    FlightInfo.app_metadata and the app_metadata of the last message."""
    import pyarrow.flight as flight

    client = flight.FlightClient(f"grpc://{address}")
    options = flight.FlightCallOptions(headers=list(headers))
    info = client.get_flight_info(statement_descriptor(sql), options)
    reader = client.do_get(info.endpoints[0].ticket, options)
    batches, messages = [], []
    while True:
        try:
            chunk = reader.read_chunk()
        except StopIteration:
            break
        messages.append({"rows": None if chunk.data is None else chunk.data.num_rows, "app_metadata": metadata_json(chunk.app_metadata)})
        if chunk.data is not None:
            batches.append(chunk.data)
    rows = [list(r.values()) for b in batches for r in b.to_pylist()]
    return {
        "rows": rows,
        "info_app_metadata": metadata_json(info.app_metadata),
        "last_app_metadata": messages[-1]["app_metadata"] if messages else None,
        "messages": messages,
    }


def flight_completeness(address):
    emit(
        {
            "aggregate": flight_query(address, "SELECT count(*) AS n, sum(status) AS s FROM client_rows"),
            "rows": flight_query(address, "SELECT status FROM client_rows ORDER BY latency_ms"),
        }
    )


def flight_min_completeness(address, how, minimum):
    import pyarrow.flight as flight

    sql = "SELECT count(*) AS n FROM client_rows"
    headers = []
    if how == "header":
        headers = [(b"x-shoal-min-completeness", minimum.encode())]
    else:
        sql = f"SET shoal.min_completeness = {minimum}; {sql}"
    try:
        emit({"answer": flight_query(address, sql, headers)})
    except flight.FlightError as error:
        emit({"error_type": type(error).__name__, "error": str(error)})


def dataframe_min_completeness(address, minimum):
    """How ADBC, pandas, polars and SQLAlchemy users ask for a minimum
    completeness: a call header on the ADBC connection (every call of it),
    or `SET shoal.min_completeness` in the SQL itself (any client). Each
    answer is its rows, or the error's message."""
    import adbc_driver_flightsql.dbapi as flightsql
    import pandas as pd
    import polars as pl
    from sqlalchemy import create_engine, text

    sql = "SELECT count(*) AS n FROM client_rows"
    results = {}

    def attempt(name, run):
        try:
            results[name] = {"n": int(run())}
        except Exception as error:  # each client raises its own type
            results[name] = {"error": str(error)}

    header = {"adbc.flight.sql.rpc.call_header.x-shoal-min-completeness": minimum}
    with flightsql.connect(f"grpc://{address}", db_kwargs=header, autocommit=True) as con:
        def adbc_header():
            with con.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchone()[0]

        attempt("adbc_header", adbc_header)
        attempt("pandas_header", lambda: pd.read_sql(sql, con)["n"][0])
        attempt("polars_header", lambda: pl.read_database(sql, connection=con)["n"][0])
    with flightsql.connect(f"grpc://{address}", autocommit=True) as con:
        with con.cursor() as cursor:
            def adbc_set():
                cursor.execute(f"SET shoal.min_completeness = {minimum}; {sql}")
                return cursor.fetchone()[0]

            attempt("adbc_set", adbc_set)
    engine = create_engine(f"adbc+flightsql://{address}?tls=false")
    with engine.connect() as connection:
        attempt(
            "sqlalchemy_set",
            lambda: connection.execute(text(f"SET shoal.min_completeness = {minimum}; {sql}")).scalar(),
        )
    emit(results)


SCENARIOS = {
    "dataframe-min-completeness": dataframe_min_completeness,
    "pandas-adbc-read": pandas_adbc_read,
    "pandas-sqlalchemy-read": pandas_sqlalchemy_read,
    "pandas-to-sql-append": pandas_to_sql_append,
    "pandas-to-sql-replace": pandas_to_sql_replace,
    "polars-read": polars_read,
    "polars-write": polars_write,
    "sqlalchemy-adbc-reflect": sqlalchemy_adbc_reflect,
    "flightsql-dbapi-reflect": flightsql_dbapi_reflect,
    "flightsql-dbapi-select": flightsql_dbapi_select,
    "adbc-get-objects": adbc_get_objects,
    "flight-completeness": flight_completeness,
    "flight-min-completeness": flight_min_completeness,
}

if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in SCENARIOS:
        sys.exit(f"usage: clients.py {{{','.join(SCENARIOS)}}} HOST:PORT [ARG...]")
    SCENARIOS[sys.argv[1]](*sys.argv[2:])
