"""Held-back queries for `peers.py --queries` (the shared kit's runner):
queries of Shoal's own, not tuned against, in the three dialects, over the
shared request-log data set (END is 2026-11-20 00:00:00 UTC).

    python3 peers.py --data /tmp/logs10m.parquet --store grpc://127.0.0.1:50051 \\
        --queries /path/to/shoal/benches/peers/held_back.py
"""

QUERIES = [
    dict(name="h01_status_last_hour", exact=True,
         df="SELECT status, count(*) AS n FROM logs WHERE time >= TIMESTAMP '2026-11-19 23:00:00' "
            "GROUP BY status ORDER BY status",
         duck="SELECT status, count(*) AS n FROM logs WHERE time >= TIMESTAMPTZ '2026-11-19 23:00:00+00' "
              "GROUP BY status ORDER BY status",
         ch="SELECT status, count() AS n FROM logs WHERE time >= '2026-11-19 23:00:00' "
            "GROUP BY status ORDER BY status"),
    dict(name="h02_method_latency_7d", exact=True,
         df="SELECT method, count(*) AS n, round(avg(latency_ms), 6) AS avg_ms, max(latency_ms) AS max_ms "
            "FROM logs WHERE time >= TIMESTAMP '2026-11-13 00:00:00' GROUP BY method ORDER BY method",
         duck="SELECT method, count(*) AS n, round(avg(latency_ms), 6) AS avg_ms, max(latency_ms) AS max_ms "
              "FROM logs WHERE time >= TIMESTAMPTZ '2026-11-13 00:00:00+00' GROUP BY method ORDER BY method",
         ch="SELECT method, count() AS n, round(avg(latency_ms), 6) AS avg_ms, max(latency_ms) AS max_ms "
            "FROM logs WHERE time >= '2026-11-13 00:00:00' GROUP BY method ORDER BY method"),
    dict(name="h03_exact_hosts_per_service_24h", exact=True,
         df="SELECT service, count(DISTINCT host) AS hosts FROM logs "
            "WHERE time >= TIMESTAMP '2026-11-19 00:00:00' GROUP BY service ORDER BY service",
         duck="SELECT service, count(DISTINCT host) AS hosts FROM logs "
              "WHERE time >= TIMESTAMPTZ '2026-11-19 00:00:00+00' GROUP BY service ORDER BY service",
         ch="SELECT service, uniqExact(host) AS hosts FROM logs "
            "WHERE time >= '2026-11-19 00:00:00' GROUP BY service ORDER BY service"),
    dict(name="h04_beta_errors_by_region_7d", exact=True,
         df="SELECT region, count(*) AS n FROM logs WHERE time >= TIMESTAMP '2026-11-13 00:00:00' "
            "AND array_has(tags, 'beta') AND status >= 500 GROUP BY region ORDER BY region",
         duck="SELECT region, count(*) AS n FROM logs WHERE time >= TIMESTAMPTZ '2026-11-13 00:00:00+00' "
              "AND list_contains(tags, 'beta') AND status >= 500 GROUP BY region ORDER BY region",
         ch="SELECT region, count() AS n FROM logs WHERE time >= '2026-11-13 00:00:00' "
            "AND has(tags, 'beta') AND status >= 500 GROUP BY region ORDER BY region"),
    dict(name="h05_slowest_agents_6h", exact=True,
         df="SELECT user_agent, max(latency_ms) AS worst FROM logs WHERE time >= TIMESTAMP '2026-11-19 18:00:00' "
            "GROUP BY user_agent ORDER BY worst DESC, user_agent LIMIT 5",
         duck="SELECT user_agent, max(latency_ms) AS worst FROM logs WHERE time >= TIMESTAMPTZ '2026-11-19 18:00:00+00' "
              "GROUP BY user_agent ORDER BY worst DESC, user_agent LIMIT 5",
         ch="SELECT user_agent, max(latency_ms) AS worst FROM logs WHERE time >= '2026-11-19 18:00:00' "
            "GROUP BY user_agent ORDER BY worst DESC, user_agent LIMIT 5"),
    dict(name="h06_endpoint_count_1h_one_service", exact=True,
         df="SELECT endpoint, count(*) AS n FROM logs WHERE time >= TIMESTAMP '2026-11-19 23:00:00' "
            "AND service = 'svc-api' GROUP BY endpoint ORDER BY n DESC, endpoint LIMIT 10",
         duck="SELECT endpoint, count(*) AS n FROM logs WHERE time >= TIMESTAMPTZ '2026-11-19 23:00:00+00' "
              "AND service = 'svc-api' GROUP BY endpoint ORDER BY n DESC, endpoint LIMIT 10",
         ch="SELECT endpoint, count() AS n FROM logs WHERE time >= '2026-11-19 23:00:00' "
            "AND service = 'svc-api' GROUP BY endpoint ORDER BY n DESC, endpoint LIMIT 10"),
]
