-- Payment success per method and hour (see .promodb.sql).
SELECT date_trunc('hour', ts) AS hour,
       method,
       count(*) AS attempts,
       count(*) FILTER (WHERE status = 'success') AS successes,
       CAST(count(*) FILTER (WHERE status = 'success') AS DOUBLE) / NULLIF(count(*), 0) AS success_rate
FROM payments
GROUP BY 1, 2
ORDER BY hour, method NULLS LAST
