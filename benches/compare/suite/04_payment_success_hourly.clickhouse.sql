-- Payment success per method and hour (see .promodb.sql).
SELECT toDateTime64(toStartOfHour(ts), 6, 'UTC') AS hour,
       method,
       count() AS attempts,
       countIf(status = 'success') AS successes,
       toFloat64(countIf(status = 'success')) / nullIf(count(), 0) AS success_rate
FROM payments
GROUP BY hour, method
ORDER BY hour, method NULLS LAST
